"""Event-driven inference: IF replay of trains gives the count-mode network, exactly where it can."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import fastsnn
from fastsnn import SpikeCoding
from fastsnn_neurons import EventTrain, event_mode, integrate_and_fire
from fastsnn_neurons.neurons.base import CountNeuron

SIGNED_CODINGS = ["ternary", "bitwise_bidirectional", "twos_complement"]
ALL_CODINGS = ["binary", "bitwise", *SIGNED_CODINGS]


def mlp(neuron_ref, widths=(12, 40, 24, 5), dtype=torch.float64):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(fastsnn.build_ref("neuron", neuron_ref))
    return nn.Sequential(*layers).to(dtype).eval()


def count_mode_counts(model, x):
    """Each neuron's integer counts in count mode, by module name."""
    counts, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(module, CountNeuron):
            hooks.append(module.register_forward_hook(
                lambda m, inputs, out, name=name: counts.__setitem__(name, m.spikes(inputs[0]).counts.long())))
    model(x)
    for hook in hooks:
        hook.remove()
    return counts


REPLAYABLE_NEURONS = [
    {"name": "adaptive_threshold", "signed": False},
    {"name": "adaptive_threshold", "signed": False, "max_count": 6},
    {"name": "adaptive_threshold", "signed": True, "k": 5},
    {"name": "adaptive_threshold", "signed": True, "max_count": 3},
    {"name": "fixed_threshold", "threshold": 0.05},
    {"name": "lif_sint", "threshold": 0.1, "signed": False},
]
# a signed neuron needs a signed coding (the other pairs are tested as errors below)
VALID_PAIRS = [
    (coding, neuron)
    for coding in ALL_CODINGS
    for neuron in REPLAYABLE_NEURONS
    if coding in SIGNED_CODINGS or neuron.get("signed") is False
]


@pytest.mark.parametrize(("coding", "neuron"), VALID_PAIRS)
def test_mlp_event_mode_equals_count_mode(coding, neuron):
    model = mlp(neuron)
    x = torch.randn(7, 12, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x)
        expected_counts = count_mode_counts(model, x)
        with event_mode(model, coding=coding) as record:
            got = model(x)
    assert isinstance(got, torch.Tensor) and got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-10)
    assert set(record.trains) == set(expected_counts) == {"1", "3"}
    for name, counts in expected_counts.items():
        spikes = record.spikes(name)
        assert spikes.kind == "event" and spikes.coding.name == coding
        assert torch.equal(spikes.counts, counts)  # the emitted trains carry exactly the counts
        assert spikes.spikes.dtype == torch.int8


def test_event_mode_float32_agrees_to_float_tolerance():
    model = mlp({"name": "adaptive_threshold", "signed": False}, dtype=torch.float32)
    x = torch.randn(64, 12)
    with torch.no_grad():
        expected = model(x)
        with event_mode(model, coding="bitwise"):
            got = model(x)
    # re-associated float sums can flip a count that sits on a rounding step; report, do not hide
    close = torch.isclose(got, expected, rtol=1e-4, atol=1e-4)
    assert close.float().mean() > 0.98


def test_model_is_back_in_count_mode_after_the_block():
    model = mlp({"name": "adaptive_threshold", "signed": False})
    x = torch.randn(3, 12, dtype=torch.float64)
    with torch.no_grad(), event_mode(model):
        pass
    assert all(getattr(m, "_event_settings", None) is None for m in model.modules())
    assert not model._forward_hooks
    out = model(x)
    out.sum().backward()  # training works again
    assert model[0].weight.grad is not None


def test_event_mode_restores_on_error():
    model = mlp({"name": "adaptive_threshold", "signed": False})
    with pytest.raises(RuntimeError, match="boom"), event_mode(model):
        raise RuntimeError("boom")
    assert model[1]._event_settings is None


def test_num_steps_fixes_the_window_and_too_few_is_an_error():
    model = mlp({"name": "adaptive_threshold", "signed": False, "max_count": 7})
    x = torch.randn(4, 12, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x)
        with event_mode(model, coding="bitwise", num_steps=5) as record:
            got = model(x)
        assert record.spikes("1").num_steps == 5
        assert torch.allclose(got, expected)
        with pytest.raises(fastsnn.FastSNNError, match="need 3 steps of coding 'bitwise' but num_steps=2"):
            with event_mode(model, coding="bitwise", num_steps=2):
                model(x)


def test_saturating_membrane_reproduces_max_count():
    neuron = fastsnn.create("neuron", "fixed_threshold", threshold=1.0, max_count=3)
    x = torch.tensor([[-7.2, -1.6, 0.2, 2.4, 9.9]], dtype=torch.float64)
    with torch.no_grad(), event_mode(neuron, coding="bitwise_bidirectional") as record:
        out = neuron(x)
    assert record.spikes("").counts.tolist() == [[-3, -2, 0, 2, 3]]
    assert out.tolist() == [[-3.0, -2.0, 0.0, 2.0, 3.0]]


def test_integrate_and_fire_rounds_half_up_where_count_mode_rounds_half_to_even():
    coding = fastsnn.create("coding", "ternary")
    events = integrate_and_fire(torch.tensor([2.5, -2.5, 1.5]), 1.0, coding)
    assert coding.decode(events).tolist() == [3, -2, 2]
    assert torch.round(torch.tensor([2.5, -2.5, 1.5])).tolist() == [2.0, -2.0, 2.0]


def test_event_train_linear_is_per_step_with_bias_once():
    currents = torch.randn(4, 3, 6, dtype=torch.float64)
    linear = nn.Linear(6, 2).double()
    out = linear(EventTrain(currents))
    assert isinstance(out, EventTrain) and out.num_steps == 4 and out.shape == (3, 2)
    assert torch.allclose(out.integrate(), linear(currents.sum(0)))
    assert torch.allclose(out.currents[1], F.linear(currents[1], linear.weight))  # no bias after step 0
    read_out = torch.tanh(out)  # any other op reads the train out
    assert torch.allclose(read_out, torch.tanh(linear(currents.sum(0))))
    assert torch.allclose(torch.ones(3, 2, dtype=torch.float64) + out, 1 + out.integrate())
    assert "steps=4" in repr(out)


def test_stats_during_event_mode_record_the_emitted_trains():
    from fastsnn_neurons import collect_stats

    model = mlp({"name": "adaptive_threshold", "signed": False})
    x = torch.randn(5, 12, dtype=torch.float64)
    with torch.no_grad(), collect_stats(model) as stats, event_mode(model, coding="binary") as record:
        model(x)
    train = record.spikes("1").spikes
    assert stats["1"].coding == "binary"
    assert stats["1"].event_steps == train.numel()
    assert stats["1"].events == int((train != 0).sum())
    assert stats["1"].values == 5 * 40


# -- errors -------------------------------------------------------------------------------------
def test_signed_neuron_with_unsigned_coding_is_an_error():
    model = mlp({"name": "adaptive_threshold", "signed": True})
    with pytest.raises(fastsnn.FastSNNError, match="neuron 1 is signed but coding 'bitwise' carries only counts >= 0"):
        with event_mode(model, coding="bitwise"):
            pass


@pytest.mark.parametrize("neuron", [{"name": "lif", "time_dim": 0}, {"name": "if"}, {"name": "lif_sint", "time_dim": 1}])
def test_neurons_that_cannot_be_replayed(neuron):
    model = mlp(neuron)
    with pytest.raises(fastsnn.FastSNNError, match="neuron 1 .* cannot be replayed from events"):
        with event_mode(model, coding="ternary"):
            pass


def test_model_without_neurons_nested_blocks_and_unknown_codings():
    with pytest.raises(fastsnn.FastSNNError, match="contains no spiking neuron"):
        with event_mode(nn.Linear(2, 2)):
            pass
    model = mlp({"name": "adaptive_threshold", "signed": False})
    with event_mode(model), pytest.raises(fastsnn.FastSNNError, match="already in event mode"):
        with event_mode(model):
            pass
    with pytest.raises(fastsnn.UnknownComponentError, match="did you mean 'ternary'"):
        with event_mode(model, coding="ternery"):
            pass

    class PlainCoding(SpikeCoding):
        name = "plain"

        def steps_for(self, counts):
            return 1

        def step_weights(self, num_steps, device=None):
            return torch.ones(num_steps, dtype=torch.float64)

        def encode(self, counts, num_steps=None):
            return counts[None].to(torch.int8)

    with pytest.raises(fastsnn.FastSNNError, match="has no integrate-and-fire rule"):
        with event_mode(model, coding=PlainCoding()):
            pass


def test_event_mode_rejects_non_finite_membranes_and_unknown_neuron_names():
    model = mlp({"name": "adaptive_threshold", "signed": False})
    x = torch.randn(2, 12, dtype=torch.float64)
    x[0, 0] = float("inf")
    with torch.no_grad(), event_mode(model) as record, pytest.raises(fastsnn.FastSNNError, match="NaN or inf"):
        model(x)
    with pytest.raises(fastsnn.FastSNNError, match="no event train recorded for 'nope'"):
        record.spikes("nope")
