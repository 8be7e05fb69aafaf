"""Event-driven inference: IF replay of trains gives the count-mode network, exactly where it can."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import fastsnn
from fastsnn import SpikeCoding
from fastsnn_neurons import EventTrain, event_mode, integrate_and_fire
from fastsnn_neurons.neurons.base import CountNeuron, forward_overrides

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
        assert spikes.view == "event" and spikes.coding.name == coding
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
    assert not any(m in forward_overrides for m in model.modules())
    assert not model._forward_hooks and not nn.modules.module._global_forward_hooks
    out = model(x)
    out.sum().backward()  # training works again
    assert model[0].weight.grad is not None


def test_event_mode_restores_on_error():
    model = mlp({"name": "adaptive_threshold", "signed": False})
    with pytest.raises(RuntimeError, match="boom"), event_mode(model):
        raise RuntimeError("boom")
    assert model[1] not in forward_overrides and not nn.modules.module._global_forward_hooks


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


def test_integrate_and_fire_rounds_ties_to_even_as_count_mode_does():
    coding = fastsnn.create("coding", "ternary")
    ties = torch.tensor([2.5, -2.5, 1.5, -1.5, 0.5, -0.5, 3.5])
    events = integrate_and_fire(ties, 1.0, coding)
    assert coding.decode(events).tolist() == [2, -2, 2, -2, 0, 0, 4]
    assert torch.round(ties).tolist() == [2.0, -2.0, 2.0, -2.0, 0.0, -0.0, 4.0]


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


# -- exactness: event mode reproduces count mode's integer counts, ties included ------------------
def _count_mode(neuron, x):
    """Count mode's integer counts and V_th for ``x``; checks the fused forward gives counts · V_th."""
    spikes = neuron.spikes(x)
    assert torch.equal(neuron(x), spikes.to_dense())  # the model's own (fast) path, bit for bit
    return spikes.counts.long(), spikes.scale


EXACT_NEURONS = [
    {"name": "adaptive_threshold", "signed": False},
    {"name": "adaptive_threshold", "signed": True},
    {"name": "adaptive_threshold", "signed": True, "max_count": 3},
    {"name": "fixed_threshold", "threshold": 0.25},
    {"name": "fixed_threshold", "threshold": 0.25, "signed": False, "max_count": 5},
    {"name": "lif_sint", "threshold": 0.125, "signed": False},
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("neuron_ref", EXACT_NEURONS)
def test_event_counts_equal_count_mode_exactly_for_200_seeds(neuron_ref, dtype):
    """Linear → neuron → Linear under every coding that carries the neuron's sign: the emitted
    train decodes to count mode's integers, element for element, for 200 seeds. Half of the seeds
    put weights and inputs on a 1/8 grid, so exact ties x/V_th = k + ½ are common (the fixed and
    lif_sint thresholds are powers of two)."""
    codings = SIGNED_CODINGS if neuron_ref.get("signed", True) else ALL_CODINGS
    ties = 0
    for seed in range(200):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(8, 24), fastsnn.build_ref("neuron", neuron_ref), nn.Linear(24, 3))
        model = model.to(dtype).eval()
        x = torch.randn(5, 8, dtype=dtype)
        with torch.no_grad():
            if seed % 2:
                model[0].weight.copy_(torch.round(model[0].weight * 8) / 8)
                model[0].bias.zero_()
                x = torch.round(x * 8) / 8
            hidden = model[0](x)
            counts, threshold = _count_mode(model[1], hidden)
            ties += int((torch.frac((hidden / threshold).abs()) == 0.5).sum())
            expected = model(x)
            for coding in codings:
                with event_mode(model, coding=coding) as record:
                    got = model(x)
                assert torch.equal(record.spikes("1").counts, counts), f"seed {seed}, coding {coding}"
                rtol = 1e-5 if dtype == torch.float32 else 1e-12
                torch.testing.assert_close(got, expected, rtol=rtol, atol=rtol)
    assert ties > 0


def test_exact_ties_round_half_to_even_in_both_modes():
    """x/V_th = k + ½ exactly: count mode (torch.round) and every coding's replay give k or k+1,
    whichever is even."""
    fixed = fastsnn.create("neuron", "fixed_threshold", threshold=0.5)
    x = torch.tensor([[1.25, 0.75, -0.25, -0.75, 0.25, 1.75, -1.25]])  # x/V_th = 2.5, 1.5, −0.5, …
    adaptive = fastsnn.create("neuron", "adaptive_threshold", k=3.0)
    token = torch.tensor([[2.5, -1.5, 0.5, 7.5]])  # mean|x|/k = 12/4/3 = 1 exactly: x/V_th = x
    for neuron, inputs, expected in [(fixed, x, [[2, 2, 0, -2, 0, 4, -2]]), (adaptive, token, [[2, -2, 0, 8]])]:
        assert neuron.spikes(inputs).counts.tolist() == expected
        for coding in SIGNED_CODINGS:
            with torch.no_grad(), event_mode(neuron, coding=coding) as record:
                out = neuron(inputs)
            assert record.spikes("").counts.tolist() == expected, coding
            assert torch.equal(out, neuron(inputs))


def test_readme_example_seed_872_is_exact():
    """The seed that broke the README's example: a float32 quotient of exactly 12.5 (count mode: 12;
    the old replay's ⌊x + ½⌋: 13, so 64 outputs of one token differed)."""
    torch.manual_seed(872)
    neuron = {"name": "adaptive_threshold", "k": 3.0, "signed": False}
    ffn = fastsnn.create("ffn", "pulse", d_model=64, d_ff=256, neuron=neuron).eval()
    x = torch.randn(2, 10, 64)
    with torch.no_grad():
        hidden = torch.relu(ffn.up(x))
        counts, threshold = _count_mode(ffn.neuron, hidden)
        assert float((hidden / threshold)[0, 5, 241]) == 12.5 and int(counts[0, 5, 241]) == 12
        dense = ffn(x)
        with event_mode(ffn, coding="bitwise") as record:
            events = ffn(x)
    assert torch.equal(record.spikes("neuron").counts, counts)
    torch.testing.assert_close(events, dense, rtol=1e-5, atol=1e-6)


def test_deeper_neurons_fire_count_mode_counts_of_their_own_membrane():
    """In a deep MLP each neuron's train carries exactly count mode's counts for the membrane it
    integrated (which differs from the dense network's by float re-association only)."""
    for seed in range(50):
        torch.manual_seed(seed)
        model = mlp({"name": "adaptive_threshold", "signed": True}, widths=(12, 32, 32, 32, 4), dtype=torch.float32)
        x = torch.randn(6, 12)
        membranes, hooks = {}, []
        for name in ("1", "3", "5"):
            hooks.append(model.get_submodule(name).register_forward_pre_hook(
                lambda m, inputs, name=name, store=membranes: store.__setitem__(
                    name, inputs[0].integrate() if isinstance(inputs[0], EventTrain) else inputs[0])))
        with torch.no_grad(), event_mode(model, coding="bitwise_bidirectional") as record:
            model(x)
        for hook in hooks:
            hook.remove()
        for name, membrane in membranes.items():
            counts, _ = _count_mode(model.get_submodule(name), membrane)
            assert torch.equal(record.spikes(name).counts, counts), (seed, name)


def test_fire_counts_is_exact_for_large_counts_in_any_dtype():
    from fastsnn_neurons import fire_counts

    counts = torch.tensor([2**40 + 1, -(2**33) - 3, 0, 7], dtype=torch.int64)
    for name in ("bitwise_bidirectional", "twos_complement"):
        coding = fastsnn.create("coding", name)
        events = fire_counts(counts, coding)
        assert torch.equal(coding.decode(events), counts)
        assert torch.equal(events, coding.encode(counts, num_steps=events.shape[0]))
    half = torch.tensor([1025.0, 2047.0], dtype=torch.float16)  # fp16 cannot hold 1025 + ½
    binary = fastsnn.create("coding", "bitwise")
    assert binary.decode(fire_counts(half, binary)).tolist() == [1025, 2047]


# -- any core IntegrateFireCoding works in event mode -------------------------------------------------
class CoreOnlyUnary(fastsnn.IntegrateFireCoding):
    """A third-party signed unary coding written against fastsnn-core alone (no fastsnn_neurons)."""

    name = "core_only_unary"
    signed = True
    alphabet = (-1, 0, 1)

    def steps_for(self, counts):
        return int(counts.abs().max()) if counts.numel() else 0

    def step_weights(self, num_steps, device=None):
        return torch.ones(num_steps, dtype=torch.float64, device=device)

    def encode(self, counts, num_steps=None):
        counts = counts.to(torch.int64)
        steps = self.steps_for(counts) if num_steps is None else num_steps
        t = torch.arange(steps).view(-1, *([1] * counts.dim()))
        return (torch.sign(counts) * (counts.abs() > t)).to(torch.int8)

    def fire(self, residual, step, num_steps):
        return (residual >= 1).to(torch.int8) - (residual < 0).to(torch.int8)


def test_a_third_party_core_coding_runs_in_event_mode():
    import fastsnn_neurons.plugin
    from fastsnn.testing import use_plugins

    class CodingPlugin:
        PLUGIN_API_VERSION = "2.0"

        @fastsnn.hookimpl
        def fastsnn_register_codings(self, register):
            register("core_only_unary", CoreOnlyUnary)

    with use_plugins(fastsnn_neurons.plugin, ("third_party", CodingPlugin())):
        model = mlp({"name": "adaptive_threshold", "signed": True, "max_count": 4})
        x = torch.randn(5, 12, dtype=torch.float64)
        with torch.no_grad():
            expected = model(x)
            hidden = model[0](x)
            counts, _ = _count_mode(model[1], hidden)
            with event_mode(model, coding="core_only_unary") as record:
                got = model(x)
    assert isinstance(record.coding, CoreOnlyUnary)
    assert torch.equal(record.spikes("1").counts, counts)
    assert torch.equal(record.spikes("1").spikes, CoreOnlyUnary().encode(counts, record.spikes("1").num_steps))
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-10)


# -- copies taken inside the block are plain models ---------------------------------------------------
@pytest.mark.parametrize("copier", ["deepcopy", "pickle", "torch.save"])
def test_a_copy_taken_inside_event_mode_is_a_plain_model(copier, tmp_path):
    import copy
    import io
    import pickle

    model = mlp({"name": "adaptive_threshold", "signed": False})
    x = torch.randn(4, 12, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x)
        with event_mode(model, coding="bitwise") as record:
            if copier == "deepcopy":
                clone = copy.deepcopy(model)
            elif copier == "pickle":
                clone = pickle.loads(pickle.dumps(model))
            else:
                buffer = io.BytesIO()
                torch.save(model, buffer)
                buffer.seek(0)
                clone = torch.load(buffer, weights_only=False)
            assert torch.equal(clone(x), expected)  # count mode, a tensor, bit for bit
            assert record.trains == {}  # the clone replayed nothing
            got = model(x)  # the original is still in event mode
            assert set(record.trains) == {"1", "3"}
            with event_mode(clone, coding="ternary") as clone_record:  # and the clone can enter its own
                clone(x)
            assert set(clone_record.trains) == {"1", "3"}
    assert torch.allclose(got, expected)
    assert not clone._forward_hooks and not any(m in forward_overrides for m in clone.modules())
    assert not nn.modules.module._global_forward_hooks
    assert torch.equal(clone(x), expected)
