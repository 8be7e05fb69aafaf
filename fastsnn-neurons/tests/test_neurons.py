"""Neurons: formulas vs hand-computed values, fast path vs naive reference, time axes, bad input."""

import math

import pytest
import torch

import fastsnn
from fastsnn import SpikeTensor
from fastsnn.surrogate import distance_to_rounding_step
from fastsnn_neurons import AdaptiveThresholdNeuron, FixedThresholdNeuron, LIFNeuron, LIFSINTNeuron

NEURON_NAMES = ["adaptive_threshold", "fixed_threshold", "lif_sint", "if", "lif"]


def test_all_neurons_registered_as_spiking_neurons():
    specs = {c["name"]: c for c in fastsnn.components("neuron")}
    assert set(NEURON_NAMES) <= set(specs)
    for name in NEURON_NAMES:
        assert specs[name]["distribution"] == "(in-process)"
        assert specs[name]["description"]
        neuron = fastsnn.create("neuron", name)
        assert isinstance(neuron, fastsnn.SpikingNeuron)
        spikes = neuron.spikes(torch.randn(2, 5))
        assert isinstance(spikes, SpikeTensor) and spikes.view == "count"
        assert spikes.counts.dtype.is_floating_point
        assert torch.equal(spikes.counts, spikes.counts.round())


# -- adaptive_threshold ------------------------------------------------------------------------------
def test_adaptive_hand_computed():
    x = torch.tensor([[3.0, -1.0, 0.5, 0.5]])  # mean|x| = 1.25, V_th = 1.25/3
    neuron = fastsnn.create("neuron", "adaptive_threshold")
    spikes = neuron.spikes(x)
    assert spikes.counts.tolist() == [[7.0, -2.0, 1.0, 1.0]]  # x/V_th = 7.2, −2.4, 1.2, 1.2
    assert float(spikes.scale) == pytest.approx(1.25 / 3)
    assert torch.allclose(neuron(x), torch.tensor([[7.0, -2.0, 1.0, 1.0]]) * 1.25 / 3)
    unsigned = fastsnn.create("neuron", "adaptive_threshold", signed=False)
    assert unsigned.spikes(x).counts.tolist() == [[7.0, 0.0, 1.0, 1.0]]
    capped = fastsnn.create("neuron", "adaptive_threshold", max_count=5)
    assert capped.spikes(x).counts.tolist() == [[5.0, -2.0, 1.0, 1.0]]
    capped_unsigned = fastsnn.create("neuron", "adaptive_threshold", max_count=5, signed=False)
    assert capped_unsigned(x)[0].tolist() == pytest.approx([5 * 1.25 / 3, 0.0, 1.25 / 3, 1.25 / 3])
    k6 = fastsnn.create("neuron", "adaptive_threshold", k=6)
    assert k6.spikes(x).counts.tolist() == [[14.0, -5.0, 2.0, 2.0]]  # 14.4, −4.8, 2.4, 2.4


def test_adaptive_threshold_is_per_token_over_the_last_axis():
    x = torch.randn(2, 3, 5, 16)
    neuron = fastsnn.create("neuron", "adaptive_threshold")
    spikes = neuron.spikes(x)
    assert spikes.scale.shape == (2, 3, 5, 1)
    assert torch.allclose(spikes.scale, x.abs().mean(-1, keepdim=True) / 3)
    flat = neuron.spikes(x.reshape(-1, 16))
    assert torch.equal(spikes.counts.reshape(-1, 16), flat.counts)
    assert neuron(torch.randn(16)).shape == (16,)  # a single token


def test_adaptive_zero_token_is_silent_not_nan():
    neuron = fastsnn.create("neuron", "adaptive_threshold")
    x = torch.zeros(2, 8, requires_grad=True)
    out = neuron(x)
    assert torch.equal(out, torch.zeros(2, 8))
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert float(neuron.spikes(torch.zeros(1, 4)).scale) == pytest.approx(1e-6)


def naive_adaptive(x, k=3.0, eps=1e-6, lo=None, hi=None, threshold_grad=False):
    """Reference: v = clamp(mean|x|/k, eps); u = clamp(x/v, lo, hi) with zero gradient at and beyond
    the bounds; STE through round."""
    v = torch.clamp(x.abs().mean(-1, keepdim=True) / k, min=eps)
    if not threshold_grad:
        v = v.detach()
    u = x / v
    if lo is not None or hi is not None:
        inside = (u > (lo if lo is not None else -math.inf)) & (u < (hi if hi is not None else math.inf))
        clamped = torch.clamp(u, lo, hi)
        u = torch.where(inside, u, clamped.detach())
    return (u + (torch.round(u) - u).detach()) * v


@pytest.mark.parametrize("shape", [(3, 7), (2, 5, 13), (1, 1), (4, 63)])
@pytest.mark.parametrize("options", [{}, {"signed": False}, {"max_count": 3}, {"signed": False, "max_count": 2}])
def test_adaptive_fast_path_matches_reference_and_naive(shape, options):
    neuron = fastsnn.create("neuron", "adaptive_threshold", **options)
    lo = 0 if options.get("signed") is False else (-options["max_count"] if "max_count" in options else None)
    hi = options.get("max_count")
    x = torch.randn(*shape, dtype=torch.float64) * 2
    grad_out = torch.randn(*shape, dtype=torch.float64)
    results = []
    for fn in (neuron, lambda t: neuron.spikes(t).to_dense(), lambda t: naive_adaptive(t, lo=lo, hi=hi)):
        leaf = x.clone().requires_grad_(True)
        out = fn(leaf)
        out.backward(grad_out)
        results.append((out.detach(), leaf.grad))
    fast, reference, naive = results
    assert torch.allclose(fast[0], reference[0]) and torch.allclose(fast[0], naive[0])
    assert torch.allclose(fast[1], reference[1]) and torch.allclose(fast[1], naive[1])


def test_gradient_is_zero_at_the_bounds_as_for_relu():
    x = torch.tensor([[0.0, 1.0, 2.0, -1.0, 3.0]], requires_grad=True)  # V_th = 1.4/3: u = 0, 2.14, 4.29, …
    neuron = fastsnn.create("neuron", "adaptive_threshold", signed=False)
    neuron(x).sum().backward()
    fast = x.grad.clone()
    x.grad = None
    neuron.spikes(x).to_dense().sum().backward()
    assert fast.tolist() == x.grad.tolist() == [[0.0, 1.0, 1.0, 0.0, 1.0]]


def test_adaptive_fast_path_really_is_a_different_code_path():
    neuron = fastsnn.create("neuron", "adaptive_threshold")
    x = torch.randn(4, 8, requires_grad=True)
    assert type(neuron(x).grad_fn).__name__ == "_AdaptiveCountsSTEBackward"
    assert type(neuron.spikes(x).to_dense().grad_fn).__name__ == "MulBackward0"


def test_adaptive_float32_and_bfloat16_inputs():
    neuron = fastsnn.create("neuron", "adaptive_threshold")
    x = torch.randn(3, 32)
    for dtype in (torch.float32, torch.bfloat16):
        out = neuron(x.to(dtype))
        assert out.dtype == dtype
        assert torch.equal(neuron.spikes(x.to(dtype)).counts, neuron.spikes(x.to(dtype)).counts.round())


def test_adaptive_threshold_grad_flows_through_threshold():
    x = torch.randn(3, 9, dtype=torch.float64)
    neuron = fastsnn.create("neuron", "adaptive_threshold", threshold_grad=True)
    a = x.clone().requires_grad_(True)
    neuron(a).pow(2).sum().backward()
    b = x.clone().requires_grad_(True)
    naive_adaptive(b, threshold_grad=True).pow(2).sum().backward()
    assert torch.allclose(a.grad, b.grad)
    c = x.clone().requires_grad_(True)
    fastsnn.create("neuron", "adaptive_threshold")(c).pow(2).sum().backward()
    assert not torch.allclose(a.grad, c.grad)


@pytest.mark.parametrize("surrogate", ["atan", "sigmoid", "triangle", {"name": "rectangular", "width": 0.5}])
def test_adaptive_selectable_surrogate_gradient(surrogate):
    neuron = fastsnn.create("neuron", "adaptive_threshold", surrogate=surrogate)
    x = torch.randn(4, 10, dtype=torch.float64, requires_grad=True)
    neuron(x).sum().backward()
    v = x.detach().abs().mean(-1, keepdim=True) / 3
    expected = neuron.surrogate.derivative(distance_to_rounding_step(x.detach() / v))
    assert torch.allclose(x.grad, expected)


def test_ste_scale_other_than_one_uses_reference_path():
    neuron = fastsnn.create("neuron", "adaptive_threshold", surrogate={"name": "ste", "scale": 0.5})
    x = torch.randn(2, 6, requires_grad=True)
    neuron(x).sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, 0.5))


# -- fixed_threshold -----------------------------------------------------------------------------------
def test_fixed_threshold_hand_computed_values_and_gradients():
    neuron = fastsnn.create("neuron", "fixed_threshold", threshold=0.5)
    x = torch.tensor([0.7, 1.6], requires_grad=True)
    out = neuron(x)
    assert out.tolist() == [0.5, 1.5]  # counts 1, 3
    out.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    # d out/dθ = n − x/θ = (1 − 1.4) + (3 − 3.2)
    assert float(neuron.raw_threshold.grad) == pytest.approx(-0.6)
    assert neuron.raw_threshold.requires_grad


def test_fixed_threshold_not_learnable_and_clamped():
    frozen = fastsnn.create("neuron", "fixed_threshold", threshold=2.0, learnable=False)
    assert not frozen.raw_threshold.requires_grad
    neuron = fastsnn.create("neuron", "fixed_threshold", threshold=1.0, min_threshold=0.25)
    with torch.no_grad():
        neuron.raw_threshold.fill_(-3.0)  # as if training had pushed it below zero
    assert float(neuron.spikes(torch.tensor([1.0])).scale.detach()) == 0.25
    assert neuron(torch.tensor([1.0])).tolist() == [1.0]


def test_fixed_threshold_signed_unsigned_and_max_count():
    x = torch.tensor([-2.2, 0.4, 5.6])
    assert fastsnn.create("neuron", "fixed_threshold").spikes(x).counts.tolist() == [-2, 0, 6]
    assert fastsnn.create("neuron", "fixed_threshold", signed=False).spikes(x).counts.tolist() == [0, 0, 6]
    assert fastsnn.create("neuron", "fixed_threshold", max_count=4).spikes(x).counts.tolist() == [-2, 0, 4]


# -- lif_sint ------------------------------------------------------------------------------------------
def naive_lif_sint(x_steps, threshold, decay, lo=None, hi=None):
    v, out = 0.0, []
    for current in x_steps:
        v = decay * v + current
        n = round(v / threshold)  # Python round is half-to-even, like torch.round
        n = max(n, lo) if lo is not None else n
        n = min(n, hi) if hi is not None else n
        out.append(n)
        v -= n * threshold
    return out


def test_lif_sint_hand_computed():
    neuron = fastsnn.create("neuron", "lif_sint", threshold=1.0, decay=0.5, time_dim=0)
    counts = neuron.spikes(torch.tensor([[0.6], [0.6], [0.6]])).counts
    # V1 = 0.6 → n=1, V⁺=−0.4; V2 = −0.2+0.6 = 0.4 → 0; V3 = 0.2+0.6 = 0.8 → 1
    assert counts[:, 0].tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("decay", [1.0, 0.5, 0.9])
@pytest.mark.parametrize("bounds", [{}, {"signed": False}, {"max_count": 2}])
def test_lif_sint_matches_naive_loop(decay, bounds):
    x = torch.randn(9, 4, dtype=torch.float64) * 2
    neuron = fastsnn.create("neuron", "lif_sint", threshold=0.7, decay=decay, time_dim=0, **bounds)
    lo = 0 if bounds.get("signed") is False else (-bounds["max_count"] if "max_count" in bounds else None)
    counts = neuron.spikes(x).counts
    for j in range(4):
        assert counts[:, j].tolist() == naive_lif_sint(x[:, j].tolist(), 0.7, decay, lo, bounds.get("max_count"))


def test_lif_sint_time_axis_layouts():
    x = torch.randn(2, 6, 5)  # [B, T, D]
    batch_first = fastsnn.create("neuron", "lif_sint", time_dim=1)
    time_first = fastsnn.create("neuron", "lif_sint", time_dim=0)
    assert torch.equal(batch_first(x), time_first(x.transpose(0, 1)).transpose(0, 1))
    negative = fastsnn.create("neuron", "lif_sint", time_dim=-2)
    assert torch.equal(negative(x), batch_first(x))
    one_step = fastsnn.create("neuron", "lif_sint", threshold=0.5)
    fixed = fastsnn.create("neuron", "fixed_threshold", threshold=0.5)
    assert torch.equal(one_step(x), fixed(x))  # time-collapsed: one sINT step
    with pytest.raises(fastsnn.FastSNNError, match="time_dim=3 is out of range"):
        fastsnn.create("neuron", "lif_sint", time_dim=3)(x)


def test_lif_sint_gradients_flow_through_time():
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    neuron = fastsnn.create("neuron", "lif_sint", time_dim=0, decay=0.5, surrogate="atan")
    neuron(x).sum().backward()
    assert x.grad.abs().sum() > 0
    detached = fastsnn.create("neuron", "lif_sint", time_dim=0, decay=0.5, surrogate="atan", detach_reset=True)
    y = x.detach().clone().requires_grad_(True)
    detached(y).sum().backward()
    assert not torch.allclose(x.grad, y.grad)


# -- if / lif ------------------------------------------------------------------------------------------
def naive_binary(x_steps, threshold, decay, reset, reset_potential=0.0):
    v, out = None, []
    for current in x_steps:
        v = current if v is None else decay * v + current
        s = 1.0 if v >= threshold else 0.0
        out.append(s)
        v = v - s * threshold if reset == "soft" else (reset_potential if s else v)
    return out


def test_if_hand_computed_soft_and_hard():
    x = torch.tensor([[1.5], [0.6]])
    assert fastsnn.create("neuron", "if", time_dim=0, reset="soft")(x)[:, 0].tolist() == [1.0, 1.0]
    assert fastsnn.create("neuron", "if", time_dim=0, reset="hard")(x)[:, 0].tolist() == [1.0, 0.0]
    lif = fastsnn.create("neuron", "lif", time_dim=0, decay=0.5)
    assert lif(torch.tensor([[0.8], [0.8], [0.8]]))[:, 0].tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize("name", ["if", "lif"])
@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_binary_neurons_match_naive_loop(name, reset):
    x = torch.rand(11, 6, dtype=torch.float64) * 1.5
    params = {"time_dim": 0, "reset": reset, "threshold": 0.9}
    if reset == "hard":
        params["reset_potential"] = -0.1
    decay = 1.0
    if name == "lif":
        params["decay"] = decay = 0.8
    spikes = fastsnn.create("neuron", name, **params)(x)
    for j in range(6):
        assert spikes[:, j].tolist() == naive_binary(x[:, j].tolist(), 0.9, decay, reset, -0.1)


def test_binary_neuron_gradient_matches_unrolled_reference():
    x = torch.randn(4, 3, dtype=torch.float64) + 0.8
    neuron = fastsnn.create("neuron", "lif", time_dim=0, decay=0.5)
    a = x.clone().requires_grad_(True)
    neuron(a).sum().backward()
    atan = neuron.surrogate

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u):
            ctx.save_for_backward(u)
            return (u >= 0).double()

        @staticmethod
        def backward(ctx, g):
            (u,) = ctx.saved_tensors
            return g * (1.0 / (1 + (math.pi / 2 * 2.0 * u) ** 2))  # atan α=2: σ'(u) = 1/(1+(πu)²)

    b = x.clone().requires_grad_(True)
    v, total = torch.zeros(3, dtype=torch.float64), 0
    for t in range(4):
        v = 0.5 * v + b[t] if t else b[t]
        s = Spike.apply(v - 1.0)
        total = total + s.sum()
        v = v - s * 1.0
    total.backward()
    assert atan.params.alpha == 2.0
    assert torch.allclose(a.grad, b.grad)


def test_binary_one_step_without_time_axis():
    x = torch.tensor([[0.5, 1.0, 2.0]])
    assert fastsnn.create("neuron", "if")(x).tolist() == [[0.0, 1.0, 1.0]]
    assert fastsnn.create("neuron", "lif").spikes(x).scale.item() == 1.0


# -- NaN / inf ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NEURON_NAMES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_input_is_a_clear_error(name, bad):
    neuron = fastsnn.create("neuron", name)
    x = torch.randn(2, 8)
    x[1, 3] = bad
    with pytest.raises(fastsnn.FastSNNError, match="contains NaN or inf.*check_finite=False"):
        neuron(x)
    with pytest.raises(fastsnn.FastSNNError, match="contains NaN or inf"):
        neuron.spikes(x)


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_non_finite_input_propagates_when_unchecked(name):
    neuron = fastsnn.create("neuron", name, check_finite=False)
    x = torch.randn(2, 8)
    x[1, 3] = float("nan")
    out = neuron(x)
    assert torch.isfinite(out[0]).all()
    if name in ("adaptive_threshold", "fixed_threshold", "lif_sint"):
        assert torch.isnan(out[1, 3])


# -- bad parameters and inputs -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("adaptive_threshold", {"k": 0}, "k: Input should be greater than 0"),
        ("adaptive_threshold", {"k": -3}, "k: Input should be greater than 0"),
        ("adaptive_threshold", {"eps": 0}, "eps: Input should be greater than 0"),
        ("adaptive_threshold", {"max_count": 0}, "max_count: Input should be greater than 0"),
        ("fixed_threshold", {"threshold": 0}, "threshold: Input should be greater than 0"),
        ("fixed_threshold", {"threshold": -1.0}, "threshold: Input should be greater than 0"),
        ("lif_sint", {"threshold": 0}, "threshold: Input should be greater than 0"),
        ("lif_sint", {"decay": 1.5}, "decay: Input should be less than or equal to 1"),
        ("if", {"threshold": -0.1}, "threshold: Input should be greater than 0"),
        ("lif", {"threshold": 0}, "threshold: Input should be greater than 0"),
        ("lif", {"decay": 0}, "decay: Input should be greater than 0"),
        ("if", {"reset": "medium"}, "reset: Input should be 'soft' or 'hard'"),
        ("if", {"reset": "hard", "reset_potential": 1.0}, "reset_potential .* must be below threshold"),
        ("adaptive_threshold", {"kk": 3}, "kk: Extra inputs are not permitted"),
    ],
)
def test_bad_params(name, params, message):
    with pytest.raises(fastsnn.FastSNNError, match=message):
        fastsnn.create("neuron", name, **params)


def test_unknown_surrogate_for_a_neuron_suggests_closest():
    with pytest.raises(fastsnn.FastSNNError, match="unknown surrogate 'sigmiod' \\(did you mean 'sigmoid'\\?\\)"):
        fastsnn.create("neuron", "lif", surrogate="sigmiod")
    with pytest.raises(fastsnn.FastSNNError, match="did you mean 'atan'"):
        AdaptiveThresholdNeuron(surrogate="atann")


@pytest.mark.parametrize("cls", [AdaptiveThresholdNeuron, FixedThresholdNeuron, LIFSINTNeuron, LIFNeuron])
def test_direct_construction_validates_too(cls):
    bad = {"k": 0} if cls is AdaptiveThresholdNeuron else {"threshold": 0}
    (field,) = bad
    message = f"bad parameters for {cls.__name__}:\n  {field}: Input should be greater than 0"
    with pytest.raises(fastsnn.FastSNNError, match=message):
        cls(**bad)


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_bad_input_tensors(name):
    neuron = fastsnn.create("neuron", name)
    with pytest.raises(fastsnn.FastSNNError, match="must be a floating-point tensor, got torch.int64"):
        neuron(torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(fastsnn.FastSNNError, match="must be a torch.Tensor"):
        neuron([1.0, 2.0])
    with pytest.raises(fastsnn.FastSNNError, match="0-d tensor"):
        neuron.spikes(torch.tensor(1.0))


def test_neuron_inside_core_pulse_ffn_trains():
    ffn = fastsnn.create("ffn", "pulse", d_model=16, d_ff=32, neuron={"name": "adaptive_threshold", "k": 4})
    assert ffn.neuron.params.k == 4
    x = torch.randn(2, 5, 16)
    ffn(x).pow(2).mean().backward()
    assert ffn.up.weight.grad is not None and ffn.up.weight.grad.abs().sum() > 0


# -- fused multi-step kernels vs the per-step composition --------------------------------------------
FUSED_CASES = [
    ("if", {}),
    ("if", {"reset": "hard", "reset_potential": -0.2}),
    ("if", {"reset": "hard", "detach_reset": True}),
    ("lif", {"decay": 0.7, "surrogate": "sigmoid"}),
    ("lif", {"decay": 0.5, "detach_reset": True, "surrogate": {"name": "triangle", "width": 0.5}}),
    ("lif", {"reset": "hard", "surrogate": "rectangular"}),
    ("lif_sint", {}),
    ("lif_sint", {"surrogate": "atan", "decay": 0.9}),
    ("lif_sint", {"signed": False, "max_count": 2, "surrogate": "sigmoid"}),
    ("lif_sint", {"max_count": 1, "detach_reset": True, "surrogate": "triangle", "threshold": 0.6}),
]


@pytest.mark.parametrize(("name", "params"), FUSED_CASES)
@pytest.mark.parametrize(("shape", "time_dim"), [((7, 3, 5), 0), ((2, 9, 13), 1), ((4, 11), None), ((3, 1, 6), -2)])
def test_fused_multistep_matches_composition(name, params, shape, time_dim):
    neuron = fastsnn.create("neuron", name, time_dim=time_dim, **params)
    x = torch.randn(*shape, dtype=torch.float64) * 1.5 + 0.3
    grad_out = torch.randn(*shape, dtype=torch.float64)
    results = []
    for fn in (neuron, lambda t: neuron.spikes(t).to_dense()):
        leaf = x.clone().requires_grad_(True)
        out = fn(leaf)
        out.backward(grad_out)
        results.append((out.detach(), leaf.grad))
    (fast, fast_grad), (reference, reference_grad) = results
    assert torch.equal(fast, reference)
    assert torch.allclose(fast_grad, reference_grad, rtol=1e-9, atol=1e-12)


def test_fused_multistep_is_one_graph_node():
    neuron = fastsnn.create("neuron", "lif", time_dim=0)
    out = neuron(torch.randn(8, 2, 4, requires_grad=True))
    assert type(out.grad_fn).__name__ == "MultiStepFunctionBackward"


def test_finite_check_has_no_false_positive_when_a_sum_overflows():
    huge = torch.full((4, 8), 3e38)  # finite values whose sum overflows float32
    neuron = fastsnn.create("neuron", "fixed_threshold", threshold=1e37)
    assert torch.isfinite(neuron(huge)).all()
    half = torch.full((2, 70000), 60000.0, dtype=torch.float16)  # sum far beyond float16's range
    assert torch.isfinite(fastsnn.create("neuron", "lif_sint", threshold=1000.0)(half)).all()


@pytest.mark.parametrize("options", [{}, {"signed": False}, {"max_count": 2}, {"signed": False, "max_count": 3},
                                     {"learnable": False}, {"min_threshold": 0.9}])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 11), (1,)])
def test_fixed_threshold_fast_path_matches_reference(options, shape):
    neuron = fastsnn.create("neuron", "fixed_threshold", threshold=0.4, **options).double()
    x = torch.randn(*shape, dtype=torch.float64) * 2
    grad_out = torch.randn(*shape, dtype=torch.float64)
    results = []
    for fn in (neuron, lambda t: neuron.spikes(t).to_dense()):
        neuron.zero_grad()
        leaf = x.clone().requires_grad_(True)
        out = fn(leaf)
        out.backward(grad_out)
        theta_grad = None if neuron.raw_threshold.grad is None else neuron.raw_threshold.grad.clone()
        results.append((out.detach(), leaf.grad, theta_grad))
    (fast, fast_x, fast_theta), (ref, ref_x, ref_theta) = results
    assert type(neuron(x.clone().requires_grad_(True)).grad_fn).__name__ == "_FixedCountsSTEBackward"
    assert torch.equal(fast, ref)
    assert torch.allclose(fast_x, ref_x)
    if options.get("learnable", True):
        assert torch.allclose(fast_theta, ref_theta)
    else:
        assert fast_theta is None and ref_theta is None
