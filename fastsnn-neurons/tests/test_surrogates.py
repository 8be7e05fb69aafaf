"""Surrogate gradients: registry, exact forward, backward = the surrogate derivative."""

import math

import pytest
import torch

import fastsnn
from fastsnn import Surrogate
from fastsnn.surrogate import distance_to_rounding_step, resolve_surrogate

NAMES = ["ste", "atan", "sigmoid", "rectangular", "triangle"]


def test_all_surrogates_registered():
    assert {c["name"] for c in fastsnn.components("surrogate")} == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_heaviside_forward_is_exact_step(name):
    surrogate = fastsnn.create("surrogate", name)
    u = torch.tensor([-2.0, -1e-7, 0.0, 1e-7, 3.0])
    assert surrogate(u).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert surrogate.heaviside(u).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", NAMES)
def test_round_forward_is_torch_round(name):
    surrogate = fastsnn.create("surrogate", name)
    u = torch.tensor([-2.5, -1.4, -0.5, 0.49, 0.5, 1.5, 2.51])
    assert torch.equal(surrogate.round(u), torch.round(u))


@pytest.mark.parametrize("name", NAMES)
def test_heaviside_backward_is_the_derivative(name):
    surrogate = fastsnn.create("surrogate", name)
    u = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    grad_out = torch.rand(41, dtype=torch.float64)
    surrogate.heaviside(u).backward(grad_out)
    assert torch.allclose(u.grad, grad_out * surrogate.derivative(u.detach()))


@pytest.mark.parametrize("name", NAMES)
def test_round_backward_uses_distance_to_nearest_rounding_step(name):
    surrogate = fastsnn.create("surrogate", name)
    u = torch.linspace(-3.2, 3.2, 57, dtype=torch.float64, requires_grad=True)
    surrogate.round(u).sum().backward()
    expected = surrogate.derivative(distance_to_rounding_step(u.detach()))
    assert torch.allclose(u.grad, expected)


def test_distance_to_rounding_step_hand_values():
    u = torch.tensor([2.3, 2.7, -0.2, 0.0])
    assert torch.allclose(distance_to_rounding_step(u), torch.tensor([-0.2, 0.2, 0.3, -0.5]))


class _SmoothCheck(torch.autograd.Function):
    """forward = the surrogate's primitive, backward = its derivative (the code under test)."""

    @staticmethod
    def forward(ctx, u, surrogate):
        ctx.save_for_backward(u)
        ctx.surrogate = surrogate
        return surrogate.primitive(u)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(u), None


@pytest.mark.parametrize("name", ["atan", "sigmoid", "ste"])
def test_gradcheck_smooth_surrogates(name):
    surrogate = fastsnn.create("surrogate", name)
    u = torch.randn(30, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: _SmoothCheck.apply(v, surrogate), (u,))


@pytest.mark.parametrize("name", ["rectangular", "triangle"])
def test_gradcheck_piecewise_surrogates_away_from_kinks(name):
    surrogate = fastsnn.create("surrogate", name, width=1.0)
    kinks = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0], dtype=torch.float64)
    u = torch.linspace(-1.7, 1.7, 40, dtype=torch.float64)
    u = u[(u.view(-1, 1) - kinks).abs().min(1).values > 0.05].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: _SmoothCheck.apply(v, surrogate), (u,))


@pytest.mark.parametrize("name", ["atan", "sigmoid", "rectangular", "triangle"])
def test_derivatives_integrate_to_one(name):
    surrogate = fastsnn.create("surrogate", name)
    u = torch.linspace(-60, 60, 600_001, dtype=torch.float64)
    area = torch.trapezoid(surrogate.derivative(u), u)
    assert abs(float(area) - 1.0) < 2e-2


def test_hand_computed_derivatives_at_zero():
    assert float(fastsnn.create("surrogate", "atan", alpha=2.0).derivative(torch.zeros(1))) == pytest.approx(1.0)
    assert float(fastsnn.create("surrogate", "sigmoid", alpha=4.0).derivative(torch.zeros(1))) == pytest.approx(1.0)
    assert float(fastsnn.create("surrogate", "rectangular", width=0.5).derivative(torch.zeros(1))) == 2.0
    assert float(fastsnn.create("surrogate", "triangle", width=2.0).derivative(torch.tensor(1.0))) == 0.25
    atan = fastsnn.create("surrogate", "atan", alpha=1.0)
    assert float(atan.derivative(torch.tensor(1.0))) == pytest.approx(0.5 / (1 + (math.pi / 2) ** 2))


def test_ste_scale_and_identity():
    u = torch.tensor([0.3, -2.0], requires_grad=True)
    fastsnn.create("surrogate", "ste", scale=0.5).round(u).sum().backward()
    assert u.grad.tolist() == [0.5, 0.5]


def test_width_and_slope_params_change_the_gradient():
    narrow = fastsnn.create("surrogate", "rectangular", width=0.2)
    assert float(narrow.derivative(torch.tensor(0.3))) == 0.0
    assert float(fastsnn.create("surrogate", "rectangular").derivative(torch.tensor(0.3))) == 1.0


@pytest.mark.parametrize("bad", [{"alpha": 0}, {"alpha": -1.0}])
def test_bad_slope_is_rejected(bad):
    with pytest.raises(fastsnn.FastSNNError, match="alpha"):
        fastsnn.create("surrogate", "atan", **bad)


def test_unknown_surrogate_suggests_closest():
    with pytest.raises(fastsnn.UnknownComponentError, match="did you mean 'sigmoid'"):
        fastsnn.create("surrogate", "sigmod")
    with pytest.raises(fastsnn.UnknownComponentError, match="did you mean 'triangle'"):
        resolve_surrogate("triangel")


def test_plugins_can_add_a_surrogate():
    class Gaussian(Surrogate):
        """σ'(u) = exp(−u²/2)/√(2π)."""

        name = "gaussian"

        def derivative(self, u):
            return torch.exp(-u * u / 2) / math.sqrt(2 * math.pi)

        def primitive(self, u):
            return 0.5 * (1 + torch.erf(u / math.sqrt(2)))

    class ExtraPlugin:
        PLUGIN_API_VERSION = "2.0"

        @fastsnn.hookimpl
        def fastsnn_register_surrogates(self, register):
            register("gaussian", Gaussian)

    import fastsnn_neurons.plugin
    from fastsnn.testing import use_plugins

    with use_plugins(fastsnn_neurons.plugin, ("extra", ExtraPlugin())):
        neuron = fastsnn.create("neuron", "adaptive_threshold", surrogate="gaussian")
        x = torch.randn(3, 8, requires_grad=True)
        neuron(x).sum().backward()
        assert isinstance(neuron.surrogate, Gaussian)
        assert x.grad is not None and torch.isfinite(x.grad).all()


def test_resolve_rejects_non_surrogate_objects():
    class NotASurrogate:
        PLUGIN_API_VERSION = "2.0"

        @fastsnn.hookimpl
        def fastsnn_register_surrogates(self, register):
            register("odd", lambda params: object(), description="returns the wrong type")

    import fastsnn_neurons.plugin
    from fastsnn.testing import use_plugins

    with use_plugins(fastsnn_neurons.plugin, ("odd", NotASurrogate())):
        with pytest.raises(fastsnn.FastSNNError, match=r"built a object, which is not a fastsnn\.(surrogate\.)?Surrogate"):
            resolve_surrogate("odd")
