"""The fixed-threshold sINT neuron with a learnable threshold (``fixed_threshold``)."""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field
from torch import nn

from fastsnn import Params, SpikeTensor
from fastsnn.config.refs import SurrogateRef
from fastsnn_neurons.neurons.base import CountNeuron, ensure_finite


class _FixedCountsSTE(torch.autograd.Function):
    """Fused ``round(hardtanh(x/θ, lo, hi))·θ`` with the straight-through gradient for both inputs:
    ``grad_x = g·1[lo < u < hi]`` and ``grad_θ = Σ g·(n − 1[lo < u < hi]·u)`` (``u = x/θ``).
    The reference is the composition in :meth:`FixedThresholdNeuron._spikes`; tests compare them."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, threshold: torch.Tensor, lo: int | None, hi: int | None) -> torch.Tensor:
        # V_th is divided and multiplied in x's dtype (as in the reference), but its gradient is
        # returned in its own dtype: an fp32 parameter under fp16 activations gets an fp32 sum
        threshold_x = threshold.to(x.dtype)
        scaled = x / threshold_x
        ctx.bounds = (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))
        ctx.threshold_dtype = threshold.dtype
        ctx.save_for_backward(scaled)
        counts = scaled.clamp(lo, hi) if lo is not None or hi is not None else scaled.clone()
        return counts.round_().mul_(threshold_x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        (scaled,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        grad_x = torch.ops.aten.hardtanh_backward(grad, scaled, lo, hi)
        grad_threshold = None
        if ctx.needs_input_grad[1]:
            # Σ g·(n − 1[lo < u < hi]·u): the residual n − u is formed before multiplying (two big
            # sums Σ g·n − Σ g·u cancel catastrophically) and summed in fp32 (in fp16 the sum
            # overflows, in bf16 it keeps 3 digits); the result is in the threshold's dtype.
            counts = scaled.clamp(lo, hi).round_()  # infinite bounds clamp nothing
            if lo == -math.inf and hi == math.inf:
                residual = counts.sub_(scaled)
            else:
                residual = torch.where((scaled > lo) & (scaled < hi), counts - scaled, counts)
            accumulate = torch.float32 if grad.dtype in (torch.float16, torch.bfloat16) else None
            grad_threshold = torch.sum(grad * residual, dtype=accumulate).to(ctx.threshold_dtype)
        return grad_x, grad_threshold, None, None


class FixedThresholdNeuron(CountNeuron):
    r"""sINT neuron with one learnable threshold: n = clamp(round(x / V_th), lo, hi), out = n·V_th.

    For ``x [..., D]`` (any shape; elementwise)::

        V_th = max(θ, min_threshold)        θ: a learnable scalar (nn.Parameter), initialised to `threshold`
        n    = clamp(round(x / V_th), lo, hi)     lo = −max_count (signed) or 0, hi = max_count
        out  = n · V_th

    With the straight-through surrogate the gradients are d out/dx = 1[lo ≤ x/V_th ≤ hi] and
    d out/dθ = n − x/V_th inside the bounds (the rounding residual, as in LSQ) and n at a bound.
    ``min_threshold`` keeps training from pushing V_th to zero or below.
    """

    name = "fixed_threshold"

    class Params(Params):
        threshold: float = Field(1.0, gt=0, description="initial threshold V_th (> 0)")
        learnable: bool = Field(True, description="train V_th by gradient descent")
        min_threshold: float = Field(1e-4, gt=0, description="V_th is clamped to at least this in the forward pass")
        signed: bool = Field(True, description="counts in ℤ (true) or clamped at 0, ReLU-like (false)")
        max_count: int | None = Field(None, gt=0, description="largest |count| D (None: unbounded)")
        surrogate: SurrogateRef = Field("ste", description="surrogate gradient of the rounding")
        check_finite: bool = Field(True, description="raise on NaN/inf inputs instead of propagating them")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: θ, initialised to ``params.threshold``
        self.raw_threshold = nn.Parameter(torch.tensor(self.params.threshold), requires_grad=self.params.learnable)

    def threshold(self) -> torch.Tensor:
        """The effective V_th (a 0-d tensor, ≥ min_threshold)."""
        return torch.clamp(self.raw_threshold, min=self.params.min_threshold)

    def _fast_forward(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.surrogate.constant_derivative != 1.0:
            return None
        if self.params.check_finite:
            ensure_finite(x, self.name)
        lo, hi = self.count_bounds
        return _FixedCountsSTE.apply(x, self.threshold(), lo, hi)

    def _spikes(self, x: torch.Tensor) -> SpikeTensor:
        if self.params.check_finite:
            ensure_finite(x, self.name)
        threshold = self.threshold().to(x.dtype)
        counts = self.quantize(x / threshold)
        return SpikeTensor("count", counts=counts, scale=threshold)
