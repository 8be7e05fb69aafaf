"""superspike and balanced_ternary: a third-party surrogate and event-capable coding on core alone.

The first tests use only fastsnn-core (registration, the surrogate's spike functions, the
coding's exactness and its integrate-and-fire rule). The last ones use them from fastsnn-neurons
— a neuron with ``surrogate="superspike"``, ``event_mode(..., coding="balanced_ternary")`` — and
are skipped where fastsnn-neurons is not installed: the example package itself never imports it.
"""

import itertools

import pytest
import torch

import fastsnn
from fastsnn import FastSNNError, SpikeTensor
from fastsnn.testing import use_plugins
from fastsnn_example import BalancedTernaryCoding, SuperSpikeSurrogate
from fastsnn_example import plugin as example_plugin


# -- superspike, with core alone -----------------------------------------------------------------------
def test_superspike_is_a_registered_core_surrogate():
    surrogate = fastsnn.create("surrogate", "superspike", beta=10)
    assert isinstance(surrogate, fastsnn.Surrogate) and isinstance(surrogate, SuperSpikeSurrogate)
    assert repr(surrogate) == "SuperSpikeSurrogate(beta=10.0)"
    assert fastsnn.build_ref("surrogate", {"name": "superspike", "beta": 4}).params.beta == 4.0


def test_superspike_heaviside_spikes_and_gradient_by_hand():
    surrogate = SuperSpikeSurrogate(beta=10)
    u = torch.tensor([-0.3, 0.0, 0.4], requires_grad=True)
    spikes = surrogate.heaviside(u)
    assert spikes.tolist() == [0.0, 1.0, 1.0]
    spikes.sum().backward()
    assert u.grad.tolist() == pytest.approx([1 / 16, 1.0, 1 / 25])  # 1/(1 + 10·|u|)²


def test_superspike_round_uses_the_distance_to_the_rounding_step():
    surrogate = SuperSpikeSurrogate(beta=10)
    u = torch.tensor([0.2, 0.5, 1.9, -0.7], requires_grad=True)  # u − ⌊u⌋ − ½ = −0.3, 0, 0.4, −0.2
    counts = surrogate.round(u)
    assert counts.tolist() == [0.0, 0.0, 2.0, -1.0]  # torch.round: half to even
    counts.sum().backward()
    assert u.grad.tolist() == pytest.approx([1 / 16, 1.0, 1 / 25, 1 / 9])


def test_superspike_derivative_is_the_derivative_of_its_primitive():
    surrogate = SuperSpikeSurrogate(beta=3.5)
    u = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(surrogate.primitive(u).sum(), u)
    assert torch.allclose(grad, surrogate.derivative(u.detach()), atol=1e-12)


def test_superspike_bad_beta_is_reported():
    with pytest.raises(FastSNNError, match=r"surrogate 'superspike'.*\n.*beta: Input should be greater than 0"):
        fastsnn.create("surrogate", "superspike", beta=0)


# -- balanced_ternary, with core alone ------------------------------------------------------------------
def test_balanced_ternary_digits_by_hand():
    coding = fastsnn.create("coding", "balanced_ternary")
    assert isinstance(coding, fastsnn.IntegrateFireCoding)
    counts = torch.tensor([8, -5, 0, 13, -13])
    events = coding.encode(counts)
    assert events.dtype == torch.int8 and events.shape == (3, 5)
    assert events.T.tolist() == [[1, 0, -1], [-1, 1, 1], [0, 0, 0], [1, 1, 1], [-1, -1, -1]]  # 8 = 9 − 1, ...
    assert coding.step_weights(3).tolist() == [9.0, 3.0, 1.0]
    assert torch.equal(coding.decode(events), counts)


def test_balanced_ternary_steps_and_round_trip():
    coding = BalancedTernaryCoding()
    assert [coding.steps_for(torch.tensor([n])) for n in (0, 1, -1, 2, 4, 5, 13, 14, 40, 41)] == [
        0, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    counts = torch.arange(-121, 122)
    events = coding.encode(counts)
    assert events.shape[0] == 5 and set(events.unique().tolist()) == {-1, 0, 1}
    assert torch.equal(coding.decode(events), counts)
    assert torch.equal(coding.decode(coding.encode(counts, num_steps=7)), counts)  # leading zero digits


def test_balanced_ternary_through_spike_tensor():
    counts = torch.tensor([[3.0, -7.0, 0.0], [12.0, 1.0, -2.0]])
    spikes = SpikeTensor.count(counts, 0.5).to_events("balanced_ternary")
    assert spikes.num_steps == 3
    assert torch.equal(spikes.counts.to(torch.float32), counts)
    assert torch.allclose(spikes.to_dense(), counts * 0.5)


def test_balanced_ternary_integrate_and_fire_emits_the_encoding():
    """The IF contract: from a residual n + f (0 ≤ f < 1) the greedy rule with soft reset emits encode(n)."""
    coding = BalancedTernaryCoding()
    counts = torch.arange(-40, 41, dtype=torch.float64)
    for fraction, steps in itertools.product((0.0, 0.5, 0.999), (4, 6)):
        residual = counts + fraction
        fired = []
        for t, weight in enumerate(coding.step_weights(steps).tolist()):
            event = coding.fire(residual, t, steps)
            fired.append(event)
            residual = residual - event.to(residual.dtype) * weight
        assert torch.equal(torch.stack(fired), coding.encode(counts, num_steps=steps)), (fraction, steps)
        assert torch.all((residual >= 0) & (residual < 1)), "only the fraction is left"


def test_balanced_ternary_bad_counts_are_reported():
    coding = BalancedTernaryCoding()
    with pytest.raises(FastSNNError, match=r"counts up to \|14\| need 4 digits and do not fit num_steps=3 "
                                           r"\(which carries \|n\| ≤ 13\)"):
        coding.encode(torch.tensor([14]), num_steps=3)
    with pytest.raises(FastSNNError, match="must be finite integers"):
        coding.encode(torch.tensor([0.5]))
    with pytest.raises(FastSNNError, match="must be a torch.Tensor, got list"):
        coding.encode([1, 2])
    with pytest.raises(FastSNNError, match="num_steps=40 exceeds 34"):
        coding.encode(torch.tensor([1]), num_steps=40)
    with pytest.raises(FastSNNError, match=r"coding 'balanced_ternary' must take values in .*found range \[2, 2\]"):
        coding.decode(torch.tensor([[2]]))


# -- used from fastsnn-neurons (in the test only) ----------------------------------------------------------
@pytest.fixture
def with_neurons(_only_this_plugin):
    neurons = pytest.importorskip("fastsnn_neurons", reason="fastsnn-neurons is not installed")
    from fastsnn_neurons import plugin as neurons_plugin

    with use_plugins(example_plugin, neurons_plugin):
        yield neurons


def test_a_neuron_trains_with_the_third_party_surrogate(with_neurons):
    neuron = fastsnn.create("neuron", "fixed_threshold", threshold=1.0, learnable=False,
                            surrogate={"name": "superspike", "beta": 10})
    assert isinstance(neuron.surrogate, SuperSpikeSurrogate)
    x = torch.tensor([0.2, 0.5, 1.9, -0.7], requires_grad=True)
    out = neuron(x)
    assert out.tolist() == [0.0, 0.0, 2.0, -1.0]
    out.sum().backward()
    assert x.grad.tolist() == pytest.approx([1 / 16, 1.0, 1 / 25, 1 / 9])


def test_event_mode_runs_with_the_third_party_coding(with_neurons):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), fastsnn.create("neuron", "adaptive_threshold", k=4.0), torch.nn.Linear(16, 3)
    ).double().eval()
    x = torch.randn(4, 5, 8, dtype=torch.float64)
    with torch.no_grad():
        counts = model[1].spikes(model[0](x)).counts
        count_mode = model(x)
        with with_neurons.event_mode(model, coding="balanced_ternary") as record:
            event_mode = model(x)
    spikes = record.spikes("1")
    assert spikes.coding.name == "balanced_ternary" and set(spikes.spikes.unique().tolist()) <= {-1, 0, 1}
    assert spikes.num_steps == BalancedTernaryCoding().steps_for(counts.to(torch.int64))
    assert torch.equal(spikes.counts.to(counts.dtype), counts), "the counts are count mode's, exactly"
    torch.testing.assert_close(event_mode, count_mode, rtol=1e-9, atol=1e-10)
