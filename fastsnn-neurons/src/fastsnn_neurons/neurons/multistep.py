"""Fused multi-step neuron dynamics with hand-written backpropagation through time.

One autograd node for the whole time loop instead of a handful per step: the forward pass runs
without building a graph and keeps only the pre-reset membranes ``h_t`` ``[T, ...]``; the
backward pass walks time in reverse. With ``s_t = fire(h_t)``, ``out_t = c · s_t``,
``v_t = reset(h_t, s_t)`` and ``h_{t+1} = β·v_t + x_{t+1}``::

    ∂L/∂h_t = c · ∂L/∂out_t · s'(h_t) + ∂L/∂v_t · ∂v_t/∂h_t,     ∂L/∂v_t = β · ∂L/∂h_{t+1}
    ∂L/∂x_t = ∂L/∂h_t

    soft reset  v = h − s·θ:            ∂v/∂h = 1 − θ·s'(h)        (1 with detach_reset)
    hard reset  v = (1 − s)·h + s·V_r:  ∂v/∂h = 1 − s + (V_r − h)·s'(h)  (1 − s with detach_reset)

The per-step composition in each neuron's ``_spikes`` is the reference; tests compare values
and gradients of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from fastsnn import Surrogate
from fastsnn.surrogate import distance_to_rounding_step
from fastsnn_neurons.neurons.base import ensure_finite, split_time


@dataclass(frozen=True)
class StepRule:
    """How one multi-step neuron fires and resets.

    ``kind="binary"``: ``s = H(h − θ)``, ``s' = σ'(h − θ)``, output scale 1.
    ``kind="count"``: ``s = round(clamp(h/θ, lo, hi))``, ``s' = σ'(dist(h/θ))·1[lo < h/θ < hi]/θ``,
    output scale θ.
    """

    kind: str
    threshold: float
    decay: float
    surrogate: Surrogate
    hard_reset: bool = False
    reset_potential: float = 0.0
    detach_reset: bool = False
    lo: float | None = None
    hi: float | None = None

    @property
    def out_scale(self) -> float:
        return 1.0 if self.kind == "binary" else self.threshold

    def fire(self, h: torch.Tensor) -> torch.Tensor:
        if self.kind == "binary":
            return (h >= self.threshold).to(h.dtype)
        u = h / self.threshold
        if self.lo is not None or self.hi is not None:
            u = u.clamp_(self.lo, self.hi)
        return u.round_()

    def spike_derivative(self, h: torch.Tensor) -> torch.Tensor | float:
        constant = self.surrogate.constant_derivative
        if self.kind == "binary":
            return constant if constant is not None else self.surrogate.derivative(h - self.threshold)
        if constant is not None and self.lo is None and self.hi is None:
            return constant / self.threshold  # the straight-through case: no pass over h at all
        u = h / self.threshold
        if constant is not None:
            derivative = torch.full_like(u, constant / self.threshold)
        else:
            derivative = self.surrogate.derivative(distance_to_rounding_step(u)) / self.threshold
        if self.lo is not None:
            derivative = derivative * (u > self.lo)
        if self.hi is not None:
            derivative = derivative * (u < self.hi)
        return derivative

    def reset(self, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        if self.hard_reset:
            return torch.where(s > 0, torch.full_like(h, self.reset_potential), h)
        return h - s * self.threshold

    def reset_derivative(self, h: torch.Tensor, ds: torch.Tensor) -> torch.Tensor | float:
        if self.hard_reset:
            keep = 1 - self.fire(h)
            return keep if self.detach_reset else keep + (self.reset_potential - h) * ds
        return 1.0 if self.detach_reset else 1 - self.threshold * ds


class MultiStepFunction(torch.autograd.Function):
    """``x_steps [T, ...]`` → spikes·scale ``[T, ...]`` under a :class:`StepRule`, one graph node."""

    @staticmethod
    def forward(ctx: Any, x_steps: torch.Tensor, rule: StepRule) -> torch.Tensor:
        # The membrane integrates over time: fp16/bf16 inputs integrate in fp32 (in fp16 a drive
        # of 0.01 per step is rounded to 0.00977 next to V_th = 1); spikes·scale are cast back.
        membranes = torch.empty_like(x_steps, dtype=membrane_dtype(x_steps))  # h_t, kept for backward
        out = torch.empty_like(x_steps)
        v = None
        last = x_steps.shape[0] - 1
        for t in range(last + 1):
            h = membranes[t]
            if v is None:
                h.copy_(x_steps[t])
            else:
                torch.add(x_steps[t], v, alpha=rule.decay, out=h)  # h_t = β·v_{t−1} + x_t
            s = rule.fire(h)
            torch.mul(s, rule.out_scale, out=out[t])
            if t < last:  # the last step's reset feeds nothing
                v = rule.reset(h, s)
        ctx.rule = rule
        ctx.save_for_backward(membranes)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        (membranes,) = ctx.saved_tensors
        rule: StepRule = ctx.rule
        grad_x = torch.empty_like(grad_out)
        grad_v = None  # ∂L/∂v_t, carried backwards through time (in the membranes' dtype)
        for t in reversed(range(membranes.shape[0])):
            h = membranes[t]
            ds = rule.spike_derivative(h)
            grad_h = grad_out[t].to(h.dtype) * ds
            if rule.out_scale != 1.0:
                grad_h = grad_h * rule.out_scale
            if grad_v is not None:
                grad_h = grad_h + grad_v * rule.reset_derivative(h, ds)
            grad_x[t] = grad_h
            grad_v = grad_h * rule.decay
        return grad_x, None


def membrane_dtype(x_steps: torch.Tensor) -> torch.dtype:
    """The dtype a membrane integrates ``x_steps [T, ...]`` in: fp32 for fp16/bf16 inputs of more
    than one step (one step integrates nothing), else the input's own."""
    if x_steps.dtype in (torch.float16, torch.bfloat16) and x_steps.shape[0] > 1:
        return torch.float32
    return x_steps.dtype


def run_fused(neuron: Any, x: torch.Tensor, rule: StepRule) -> torch.Tensor:
    """A multi-step neuron's fused forward: ``x`` with its ``time_dim`` (or one step) → same shape."""
    if neuron.params.check_finite:
        ensure_finite(x, neuron.name)
    steps, axis = split_time(x, neuron.params.time_dim, neuron.name)  # [T, ...]
    out = MultiStepFunction.apply(steps, rule)
    if neuron.params.time_dim is None:
        return out[0]
    return out if axis == 0 else out.movedim(0, axis)
