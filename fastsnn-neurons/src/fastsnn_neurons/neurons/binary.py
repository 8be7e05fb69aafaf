"""Classic binary multi-step neurons: ``if`` (integrate-and-fire) and ``lif`` (leaky)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from fastsnn import Params, SpikeTensor
from fastsnn.config.refs import SurrogateRef
from fastsnn_neurons.neurons.base import PackageNeuron, ensure_finite, merge_time, split_time
from fastsnn_neurons.neurons.multistep import StepRule, membrane_dtype, run_fused


class BinaryNeuronBase(PackageNeuron):
    r"""Shared dynamics of ``if`` and ``lif`` over steps t = 1…T along ``time_dim`` (V_0 = 0)::

        V_t  = β · V⁺_{t−1} + x_t                    (β = 1 for IF)
        s_t  = H(V_t − V_th) ∈ {0, 1}                 gradient: the surrogate's σ'(V_t − V_th)
        V⁺_t = V_t − s_t · V_th                        reset="soft"
        V⁺_t = (1 − s_t) · V_t + s_t · V_reset          reset="hard"
        out_t = s_t                                    (scale 1: a spike carries the value 1)

    ``time_dim=None`` (default): no time axis, one step ``s = H(x − V_th)``. ``time_dim=0``
    reads ``[T, B, ...]`` (SpikingJelly's multi-step layout), ``time_dim=1`` reads ``[B, T, ...]``.
    """

    def _decay(self) -> float:
        return 1.0

    def _fast_forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.params
        rule = StepRule("binary", p.threshold, self._decay(), self.surrogate, hard_reset=p.reset == "hard",
                        reset_potential=p.reset_potential, detach_reset=p.detach_reset)
        return run_fused(self, x, rule)

    def _spikes(self, x: torch.Tensor) -> SpikeTensor:
        p = self.params
        if p.check_finite:
            ensure_finite(x, self.name)
        decay = self._decay()
        steps, axis = split_time(x, p.time_dim, self.name)  # [T, ...]
        steps = steps.to(membrane_dtype(steps))  # fp16/bf16 integrate in fp32 over T > 1 steps
        spikes: list[torch.Tensor] = []
        membrane = torch.zeros_like(steps[0])
        for current in steps:
            membrane = (decay * membrane + current) if spikes else current
            s = self.surrogate.heaviside(membrane - p.threshold)
            spikes.append(s.to(x.dtype))
            reset = s.detach() if p.detach_reset else s
            if p.reset == "soft":
                membrane = membrane - reset * p.threshold
            else:
                membrane = membrane * (1 - reset) + reset * p.reset_potential
        scale = torch.ones((), dtype=x.dtype, device=x.device)
        return SpikeTensor("count", counts=merge_time(spikes, axis, p.time_dim), scale=scale)


class _BinaryParams(Params):
    threshold: float = Field(1.0, gt=0, description="firing threshold V_th (> 0)")
    reset: Literal["soft", "hard"] = Field("soft", description="soft: subtract V_th; hard: set to reset_potential")
    reset_potential: float = Field(0.0, description="V_reset of the hard reset (must be below the threshold)")
    time_dim: int | None = Field(None, description="axis of the input that is time; None: one step")
    detach_reset: bool = Field(False, description="no gradient through the reset")
    surrogate: SurrogateRef = Field("atan", description="surrogate gradient of the Heaviside step")
    check_finite: bool = Field(True, description="raise on NaN/inf inputs instead of propagating them")

    @model_validator(mode="after")
    def _check_reset(self) -> _BinaryParams:
        if self.reset == "hard" and self.reset_potential >= self.threshold:
            raise ValueError(
                f"reset_potential ({self.reset_potential}) must be below threshold ({self.threshold}), "
                "or the neuron fires at every step"
            )
        return self


class IFNeuron(BinaryNeuronBase):
    """Integrate-and-fire with binary spikes (β = 1), soft or hard reset, multi-step along time_dim."""

    name = "if"

    class Params(_BinaryParams):
        pass


class LIFNeuron(BinaryNeuronBase):
    """Leaky integrate-and-fire with binary spikes, V_t = β·V_{t−1} + x_t, soft or hard reset."""

    name = "lif"

    class Params(_BinaryParams):
        decay: float = Field(0.5, gt=0, le=1, description="membrane decay β per step (1 = IF)")

    def _decay(self) -> float:
        return self.params.decay
