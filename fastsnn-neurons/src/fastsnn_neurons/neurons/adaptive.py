"""SpikingBrain's adaptive-threshold sINT neuron (``adaptive_threshold``)."""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field

from fastsnn import Params, SpikeTensor
from fastsnn.config.refs import SurrogateRef
from fastsnn_neurons.neurons.base import CountNeuron, ensure_finite

#: dtypes whose reductions are accumulated in fp32
_HALF_DTYPES = (torch.float16, torch.bfloat16)


def adaptive_threshold(x: torch.Tensor, k: float, eps: float) -> torch.Tensor:
    """``V_th = max(mean_d |x_d| / k, eps)`` per token: ``x [..., D]`` → ``[..., 1]`` in ``x``'s dtype.

    The mean is computed as an L1 norm over the last axis divided by ``k·D`` (one fused pass).
    fp16/bf16 inputs are summed in fp32 and the threshold is cast back at the end: the L1 sum of
    a wide token overflows fp16 (11,008 values of 6.0 sum to 66,048 > 65,504) and loses digits
    in bf16. ``|x|`` is summed straight into fp32 (``sum(dtype=)``), never a widened copy of ``x``.
    """
    if x.dtype in _HALF_DTYPES:
        l1 = x.abs().sum(-1, keepdim=True, dtype=torch.float32)
        return torch.clamp(l1 / (k * x.shape[-1]), min=eps).to(x.dtype)
    l1 = torch.linalg.vector_norm(x, ord=1, dim=-1, keepdim=True)
    return torch.clamp(l1 / (k * x.shape[-1]), min=eps)


class _AdaptiveCountsSTE(torch.autograd.Function):
    """Fused forward ``round(hardtanh(x / V_th, lo, hi)) · V_th`` with the straight-through
    gradient (``V_th`` held constant): ``grad_x = grad · 1[lo < x/V_th < hi]``. The reference is
    the composition in :meth:`AdaptiveThresholdNeuron._spikes`; tests compare the two."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, threshold: torch.Tensor, lo: int | None, hi: int | None) -> torch.Tensor:
        scaled = x / threshold  # [..., D]
        ctx.bounds = None
        if lo is None and hi is None:
            return scaled.round_().mul_(threshold)
        ctx.bounds = (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))
        ctx.save_for_backward(scaled)
        return scaled.clamp(lo, hi).round_().mul_(threshold)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        if ctx.bounds is None:
            return grad, None, None, None
        (scaled,) = ctx.saved_tensors
        # one fused pass: grad where lo < scaled < hi, else 0 (the gradient of hardtanh)
        return torch.ops.aten.hardtanh_backward(grad, scaled, *ctx.bounds), None, None, None


class AdaptiveThresholdNeuron(CountNeuron):
    r"""SpikingBrain sINT neuron: per-token threshold V_th = mean(|x|)/k, counts n = round(x/V_th).

    For ``x [..., D]`` (any leading shape; the last axis is the feature axis, each leading index
    a token)::

        V_th = max(mean_d |x_d| / k, eps)                 shape [..., 1]
        n    = clamp(round(x / V_th), lo, hi)            lo = −max_count (signed) or 0 (unsigned)
        out  = n · V_th                                   hi = max_count (None: unbounded)

    ``round`` is :func:`torch.round` (half to even). Gradient: straight-through by default
    (``surrogate="ste"``: d out/dx = 1 strictly inside ``(lo, hi)``, 0 where clamped, V_th held
    constant); any registered surrogate can be named instead (``{"name": "atan", "alpha": 2}``),
    and ``threshold_grad=true`` also lets the gradient flow through V_th. Non-finite inputs raise
    a FastSNNError (the check reads the per-token threshold, so it costs no extra pass).
    """

    name = "adaptive_threshold"

    class Params(Params):
        k: float = Field(3.0, gt=0, description="threshold divisor: V_th = mean(|x|)/k (larger k, more spikes)")
        signed: bool = Field(True, description="counts in ℤ (true) or clamped at 0, ReLU-like (false)")
        max_count: int | None = Field(None, gt=0, description="largest |count| D (None: unbounded)")
        eps: float = Field(1e-6, gt=0, description="V_th is clamped to at least eps (an all-zero token stays silent)")
        surrogate: SurrogateRef = Field("ste", description="surrogate gradient of the rounding (registry name or table)")
        threshold_grad: bool = Field(False, description="let gradients flow through V_th as well")
        check_finite: bool = Field(True, description="raise on NaN/inf inputs instead of propagating them")

    def threshold(self, x: torch.Tensor) -> torch.Tensor:
        """V_th for ``x [..., D]`` → ``[..., 1]`` (checked for NaN/inf when ``check_finite``)."""
        threshold = adaptive_threshold(x, self.params.k, self.params.eps)
        if self.params.check_finite:
            ensure_finite(threshold, self.name, "input (or its per-token mean |x|)")
        return threshold

    def _spikes(self, x: torch.Tensor) -> SpikeTensor:
        if self.params.threshold_grad:
            threshold = self.threshold(x)
        else:
            with torch.no_grad():
                threshold = self.threshold(x)
        counts = self.quantize(x / threshold)
        return SpikeTensor("count", counts=counts, scale=threshold)

    def _fast_forward(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.params.threshold_grad or self.surrogate.constant_derivative != 1.0:
            return None
        lo, hi = self.count_bounds
        with torch.no_grad():
            threshold = self.threshold(x)
        return _AdaptiveCountsSTE.apply(x, threshold, lo, hi)
