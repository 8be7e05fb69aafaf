"""The leaky integrate-and-fire neuron with integer spikes (``lif_sint``)."""

from __future__ import annotations

import torch
from pydantic import Field

from fastsnn import Params, SpikeTensor
from fastsnn.config.refs import SurrogateRef
from fastsnn_neurons.neurons.base import CountNeuron, ensure_finite, merge_time, split_time
from fastsnn_neurons.neurons.multistep import StepRule, membrane_dtype, run_fused


class LIFSINTNeuron(CountNeuron):
    r"""Leaky integrate-and-fire with integer spike counts and soft reset, over a time axis.

    For steps t = 1…T along ``time_dim`` (V_0 = 0, V_th fixed)::

        V_t  = β · V⁺_{t−1} + x_t                       leaky integration (β = decay)
        n_t  = clamp(round(V_t / V_th), lo, hi)         integer spikes (lo = −max_count or 0)
        V⁺_t = V_t − n_t · V_th                          soft reset
        out_t = n_t · V_th

    ``time_dim=None`` (the default) means the input carries no time axis: one step,
    ``n = clamp(round(x / V_th), lo, hi)`` — the time-collapsed sINT form used in training (and
    what an LM's FFN gets, whose middle axis is tokens, not time). ``time_dim=0`` reads
    ``[T, B, ...]`` (SpikingJelly's multi-step layout), ``time_dim=1`` reads ``[B, T, ...]``.
    With β = 1 and no bounds, the counts over T steps sum to round(Σ_t x_t / V_th) up to ±1 from
    rounding per step. ``detach_reset`` stops the gradient through the reset term.
    """

    name = "lif_sint"

    class Params(Params):
        threshold: float = Field(1.0, gt=0, description="threshold V_th (> 0): the value of one spike")
        decay: float = Field(0.5, gt=0, le=1, description="membrane decay β per step (1 = no leak)")
        signed: bool = Field(True, description="counts in ℤ (true) or clamped at 0 (false)")
        max_count: int | None = Field(None, gt=0, description="largest |count| per step (None: unbounded)")
        time_dim: int | None = Field(None, description="axis of the input that is time; None: one step")
        detach_reset: bool = Field(False, description="no gradient through the soft reset")
        surrogate: SurrogateRef = Field("ste", description="surrogate gradient of the rounding")
        check_finite: bool = Field(True, description="raise on NaN/inf inputs instead of propagating them")

    @property
    def one_step(self) -> bool:
        """Only without a time axis does it give one count per value (``time_dim=None``)."""
        return self.params.time_dim is None

    def _fast_forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.params
        lo, hi = self.count_bounds
        rule = StepRule("count", p.threshold, p.decay, self.surrogate, detach_reset=p.detach_reset, lo=lo, hi=hi)
        return run_fused(self, x, rule)

    def _spikes(self, x: torch.Tensor) -> SpikeTensor:
        if self.params.check_finite:
            ensure_finite(x, self.name)
        threshold = self.params.threshold
        decay = self.params.decay
        steps, axis = split_time(x, self.params.time_dim, self.name)  # [T, ...]
        steps = steps.to(membrane_dtype(steps))  # fp16/bf16 integrate in fp32 over T > 1 steps
        counts: list[torch.Tensor] = []
        membrane = torch.zeros_like(steps[0])
        for current in steps:
            membrane = decay * membrane + current if counts else current
            n = self.quantize(membrane / threshold)
            counts.append(n.to(x.dtype))
            reset = n.detach() if self.params.detach_reset else n
            membrane = membrane - reset * threshold
        scale = torch.tensor(threshold, dtype=x.dtype, device=x.device)
        return SpikeTensor("count", counts=merge_time(counts, axis, self.params.time_dim), scale=scale)
