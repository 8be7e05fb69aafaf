"""calibrate(): choosing k per spiking layer from recorded activations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastsnn import FastSNNError
from fastsnn.convert import convert
from fastsnn_convert import SpikingActivation, calibrate


def ann() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 4))


def sample_batches(n: int = 4, rows: int = 32):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(rows, 16, generator=g) for _ in range(n)]


def output_error(reference: nn.Module, model: nn.Module) -> float:
    x = torch.randn(256, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y_ref = reference(x)
        return float((model(x) - y_ref).norm() / y_ref.norm())


def test_picks_the_smallest_k_that_meets_the_target():
    snn, _ = convert(ann(), neuron={"name": "test_adaptive", "k": 1})
    report = calibrate(snn, sample_batches(), max_rel_error=0.05)
    assert [layer.qualname for layer in report.layers] == ["1", "3"]
    for layer in report.layers:
        assert layer.met and layer.rel_error <= 0.05
        assert layer.rows == 128
        chosen = [t.k for t in layer.trials].index(layer.k)
        assert all(t.rel_error > 0.05 for t in layer.trials[:chosen]), "a smaller k would have met the target"
        errors = [t.rel_error for t in layer.trials]
        counts = [t.mean_count for t in layer.trials]
        assert errors[0] > errors[-1] and counts[0] < counts[-1], "k trades spikes for accuracy"
    assert report.all_met
    text = str(report)
    assert "target relative error ≤ 0.05" in text and "yes" in text


def test_calibration_installs_the_chosen_neurons():
    reference = ann()
    snn, _ = convert(reference, neuron={"name": "test_adaptive", "k": 1})
    before = output_error(reference, snn)
    report = calibrate(snn, sample_batches(), max_rel_error=0.02)
    after = output_error(reference, snn)
    assert after < before / 3
    for layer in report.layers:
        module = snn.get_submodule(layer.qualname)
        assert module.neuron.params.k == layer.k
        assert module.neuron_ref == {"name": "test_adaptive", "k": layer.k}


def test_a_target_no_candidate_meets_picks_the_most_accurate_and_says_so():
    snn, _ = convert(ann(), neuron="test_adaptive")
    report = calibrate(snn, sample_batches(), candidates=[1, 2], max_rel_error=1e-6)
    assert not report.all_met
    assert all(layer.k == 2 and not layer.met for layer in report.layers)
    assert "NO" in str(report)


def test_records_the_ann_activations_and_restores_the_model_state():
    snn, _ = convert(ann(), neuron="test_adaptive")
    snn.train()
    report = calibrate(snn, sample_batches(n=1, rows=10), max_rows=7)
    assert snn.training
    assert all(layer.rows == 7 for layer in report.layers)
    relu_layer = snn[1]
    x = torch.randn(3, 32)
    assert not torch.equal(relu_layer(x), torch.relu(x)), "the neuron is active again after calibration"
    with torch.no_grad():
        ann_hidden = torch.relu(ann()[0](sample_batches(n=1, rows=10)[0]))[:7]
    assert report.layers[0].mean_abs == pytest.approx(float(ann_hidden.abs().mean()), rel=1e-5)


def test_tuple_and_dict_batches():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, a, b):
            return self.act(a + b)

    snn, _ = convert(TwoInputs(), neuron="test_adaptive")
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    assert calibrate(snn, [(a, b)]).layers[0].rows == 5
    assert calibrate(snn, [{"a": a, "b": b}]).layers[0].rows == 5


def test_bad_inputs_are_clear_errors():
    snn, _ = convert(ann(), neuron="test_adaptive")
    with pytest.raises(FastSNNError, match="no spiking activations to calibrate"):
        calibrate(ann(), sample_batches())
    with pytest.raises(FastSNNError, match="got no batches"):
        calibrate(snn, [])
    with pytest.raises(FastSNNError, match="positive k values"):
        calibrate(snn, sample_batches(), candidates=[0, 1])
    with pytest.raises(FastSNNError, match="max_rel_error must be positive"):
        calibrate(snn, sample_batches(), max_rel_error=0)
    with pytest.raises(FastSNNError, match=r"needs an nn\.Module"):
        calibrate("model", sample_batches())
    per_channel, _ = convert(ann(), neuron="test_per_channel")
    with pytest.raises(FastSNNError, match=r"neuron 'test_per_channel' has no parameter 'k'.*its parameters: dim"):
        calibrate(per_channel, sample_batches())


def test_an_unused_layer_is_reported():
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.ReLU(), nn.ReLU()

        def forward(self, x):
            return self.used(x)

    snn, _ = convert(Unused(), neuron="test_adaptive")
    assert isinstance(snn.spare, SpikingActivation)
    with pytest.raises(FastSNNError, match="layer spare saw no activations"):
        calibrate(snn, [torch.randn(2, 4)])


class GatedMLP(nn.Module):
    """``down(relu(up(x)) ⊙ g)``, ``g = 100`` where ``gate(x) > 0`` else 1: the gating multiplies the
    activation's output by 100 *in place*."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.up, self.gate, self.down = nn.Linear(16, 32), nn.Linear(16, 32), nn.Linear(32, 16)
        self.act = nn.ReLU()

    def forward(self, x):
        a = self.act(self.up(x))
        a.mul_(torch.where(self.gate(x) > 0, 100.0, 1.0))  # in place, on the tensor the activation returned
        return self.down(a)


def test_statistics_are_copies_so_an_in_place_change_after_the_activation_does_not_reach_them():
    batches = sample_batches()
    snn, _ = convert(GatedMLP(), neuron="test_adaptive")
    report = calibrate(snn, batches, max_rel_error=0.05)
    [layer] = report.layers
    with torch.no_grad():
        ann = GatedMLP()
        acts = torch.cat([torch.relu(ann.up(x)) for x in batches])  # what reaches the neuron: 128 rows
    assert layer.rows == 128
    assert layer.mean_abs == pytest.approx(float(acts.abs().mean()), rel=1e-6)
    # recorded without copying, the gated values (mean |a| 11.42) would pick k = 1.5
    assert layer.mean_abs == pytest.approx(0.2214, abs=1e-4)
    expected = calibrate(convert(nn.Sequential(nn.ReLU()), neuron="test_adaptive")[0], [acts], max_rel_error=0.05)
    assert layer.k == expected.layers[0].k == 3.0
    assert [t.rel_error for t in layer.trials] == pytest.approx([t.rel_error for t in expected.layers[0].trials])


def test_a_convert_result_tuple_is_refused_with_how_to_unpack_it():
    result = convert(ann(), neuron="test_adaptive")
    with pytest.raises(FastSNNError, match=r"calibrate\(\) got a tuple \(Sequential, ConversionReport\), not a "
                                           r"model: .*pass the model: snn, report = convert\(\.\.\.\)"):
        calibrate(result, sample_batches())
