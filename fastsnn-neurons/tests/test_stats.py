"""Spike statistics: hand-computed rates and histograms, off by default, JSON-ready."""

import json

import pytest
import torch
from torch import nn

import fastsnn
from fastsnn_neurons import NeuronStats, collect_stats
from fastsnn_neurons.neurons.base import count_recorders


def test_hand_computed_stats_for_one_neuron():
    neuron = fastsnn.create("neuron", "fixed_threshold", threshold=1.0)
    with collect_stats(neuron) as stats:
        neuron(torch.tensor([[0.1, 2.2, -1.0, 0.0]]))  # counts 0, 2, −1, 0
        neuron(torch.tensor([[3.0, 0.2, 0.0, 1.0]]))  # counts 3, 0, 0, 1
    s = stats[""]
    assert (s.calls, s.values, s.zero_counts, s.spikes) == (2, 8, 4, 7)
    assert s.firing_rate == 7 / 8 and s.sparsity == 0.5
    assert s.histogram == {-1: 1, 0: 4, 1: 1, 2: 1, 3: 1}
    assert s.event_sparsity is None and s.event_rate is None


def test_stats_under_a_coding_count_silent_steps():
    neuron = fastsnn.create("neuron", "fixed_threshold", threshold=1.0, signed=False)
    with collect_stats(neuron, coding="bitwise") as stats:
        neuron(torch.tensor([0.0, 3.0, 1.0, 2.0]))  # bitwise, T=2: 00 11 01 10 → 4 events in 8 steps
    assert stats[""].event_steps == 8 and stats[""].events == 4
    assert stats[""].event_sparsity == 0.5 and stats[""].event_rate == 0.5
    assert stats[""].coding == "bitwise"


def test_stats_for_every_neuron_of_a_model_by_name():
    model = nn.Sequential(nn.Linear(4, 8), fastsnn.create("neuron", "adaptive_threshold"),
                          nn.Linear(8, 8), fastsnn.create("neuron", "lif", time_dim=1))
    x = torch.randn(2, 3, 4)
    with collect_stats(model) as stats:
        model(x)
    assert set(stats) == {"1", "3"}
    assert stats["1"].values == 2 * 3 * 8 and stats["3"].values == 2 * 3 * 8
    assert set(stats["3"].histogram) <= {0, 1}
    report = json.loads(json.dumps({name: s.as_dict() for name, s in stats.items()}))
    assert report["1"]["firing_rate"] == pytest.approx(stats["1"].firing_rate)
    assert sum(report["1"]["histogram"].values()) == 48


def test_stats_are_off_by_default_and_after_the_block():
    neuron = fastsnn.create("neuron", "adaptive_threshold")
    x = torch.randn(2, 6, requires_grad=True)
    assert neuron not in count_recorders
    with collect_stats(neuron) as stats:
        out = neuron(x)
        assert type(out.grad_fn).__name__ == "MulBackward0"  # recording uses the reference path
        out.sum().backward()
    assert neuron not in count_recorders
    assert type(neuron(x).grad_fn).__name__ == "_AdaptiveCountsSTEBackward"  # default fast path again
    assert stats[""].calls == 1


def test_spikes_calls_are_recorded_too_and_training_still_works():
    neuron = fastsnn.create("neuron", "lif_sint", time_dim=0)
    x = torch.randn(4, 3, requires_grad=True)
    with collect_stats(neuron) as stats:
        neuron.spikes(x).to_dense().sum().backward()
    assert stats[""].values == 12 and x.grad is not None


def test_collect_stats_errors():
    with pytest.raises(fastsnn.FastSNNError, match="contains no spiking neuron"):
        with collect_stats(nn.ReLU()):
            pass
    neuron = fastsnn.create("neuron", "if")
    with collect_stats(neuron), pytest.raises(fastsnn.FastSNNError, match="already recording"):
        with collect_stats(neuron):
            pass
    with pytest.raises(fastsnn.UnknownComponentError, match="did you mean 'binary'"):
        with collect_stats(neuron, coding="binaryy"):
            pass

    class ForeignNeuron(fastsnn.SpikingNeuron):
        def spikes(self, x):
            return fastsnn.SpikeTensor.count(x.round())

    with pytest.raises(fastsnn.FastSNNError, match="does not record statistics"):
        with collect_stats(nn.Sequential(ForeignNeuron())):
            pass


def test_empty_stats_are_well_defined():
    s = NeuronStats()
    assert s.firing_rate == 0.0 and s.sparsity == 1.0
    assert s.as_dict()["histogram"] == {}


@pytest.mark.parametrize("copier", ["deepcopy", "pickle"])
def test_a_copy_taken_inside_collect_stats_is_a_plain_model(copier):
    import copy
    import pickle

    model = nn.Sequential(nn.Linear(4, 8), fastsnn.create("neuron", "adaptive_threshold"))
    x = torch.randn(3, 4, requires_grad=True)
    with collect_stats(model) as stats:
        clone = copy.deepcopy(model) if copier == "deepcopy" else pickle.loads(pickle.dumps(model))
        out = clone(x)
        assert stats["1"].calls == 0  # the clone records nothing
        assert type(out.grad_fn).__name__ == "_AdaptiveCountsSTEBackward"  # its fast path, not the recording one
        model(x)
        assert stats["1"].calls == 1
        with collect_stats(clone) as clone_stats:  # and it can record on its own
            clone(x)
        assert clone_stats["1"].calls == 1 and stats["1"].calls == 1
    assert not any(m in count_recorders for m in [*model.modules(), *clone.modules()])
    assert torch.equal(clone(x), model(x))


def test_stats_survive_pickle_and_deepcopy():
    import copy
    import pickle

    neuron = fastsnn.create("neuron", "fixed_threshold", threshold=1.0, signed=False)
    with collect_stats(neuron, coding="bitwise") as stats:
        neuron(torch.tensor([0.0, 3.0, 1.0, 2.0]))
    for clone in (pickle.loads(pickle.dumps(stats[""])), copy.deepcopy(stats[""])):
        assert clone.as_dict() == stats[""].as_dict()
        assert clone.event_steps == 8 and clone.histogram == {0: 1, 1: 1, 2: 1, 3: 1}
