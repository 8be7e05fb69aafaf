"""``clipped_sint``: integer spikes with a fixed threshold and a bounded count range.

``counts = clamp(round(x / θ), min_count, max_count)``, value ``counts · θ``. The gradient is
straight-through where the input lies inside the representable range
``[min_count·θ, max_count·θ]`` and zero outside it (like the derivative of a clamp), so a bounded
activation such as Hardtanh/ReLU6 maps onto it exactly up to ``θ/2``.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field, model_validator

import fastsnn
from fastsnn import SpikeTensor, SpikingNeuron


class _ClippedRound(torch.autograd.Function):
    """``clamp(round(u), lo, hi)`` with gradient 1 for ``lo ≤ u ≤ hi`` and 0 elsewhere."""

    @staticmethod
    def forward(ctx: Any, scaled: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        ctx.save_for_backward((scaled >= lo) & (scaled <= hi))
        return scaled.round().clamp(lo, hi)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None


class ClippedSINTNeuron(SpikingNeuron):
    """Fixed-threshold integer spikes, clipped to ``[min_count, max_count]`` (straight-through inside)."""

    class Params(fastsnn.Params):
        threshold: float = Field(0.25, gt=0, description="θ: the value of one spike")
        min_count: int = Field(0, description="smallest count (negative allows signed spikes)")
        max_count: int = Field(15, description="largest count (time steps a unary code needs)")

        @model_validator(mode="after")
        def _ordered(self) -> ClippedSINTNeuron.Params:
            if self.min_count >= self.max_count:
                raise ValueError(f"min_count ({self.min_count}) must be smaller than max_count ({self.max_count})")
            return self

    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        """``x [..., D]`` → counts ``[..., D]`` (float holding integers) with scale ``θ``."""
        p = self.params
        counts = _ClippedRound.apply(x / p.threshold, p.min_count, p.max_count)
        return SpikeTensor.count(counts, p.threshold)
