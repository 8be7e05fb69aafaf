"""Test plugins: the package under test plus two small neurons, whatever else is installed."""

from __future__ import annotations

import pytest
import torch
from pydantic import Field
from torch import nn

import fastsnn
from fastsnn import SpikeCoding, SpikeTensor, SpikingNeuron, hookimpl
from fastsnn.testing import use_plugins
from fastsnn_convert import plugin as convert_plugin


class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.round()

    @staticmethod
    def backward(ctx, grad):
        return grad


class AdaptiveRefNeuron(SpikingNeuron):
    """Reference adaptive threshold: V_th = mean(|x|)/k per row, counts = round(x / V_th)."""

    class Params(fastsnn.Params):
        k: float = Field(3.0, gt=0)

    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        v_th = (x.abs().mean(-1, keepdim=True) / self.params.k).clamp_min(1e-6)  # (..., 1)
        return SpikeTensor.count(RoundSTE.apply(x / v_th), v_th)


class PerChannelRefNeuron(SpikingNeuron):
    """A neuron with one learnable threshold per feature (needs ``dim``)."""

    class Params(fastsnn.Params):
        dim: int = Field(gt=0)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = nn.Parameter(torch.full((self.params.dim,), 0.25))

    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        return SpikeTensor.count(RoundSTE.apply(x / self.threshold), self.threshold)


class FixedRefNeuron(SpikingNeuron):
    """Reference fixed threshold: counts = clamp(round(x / threshold), lo, max_count)."""

    class Params(fastsnn.Params):
        threshold: float = Field(1.0, gt=0)
        max_count: int | None = Field(None, gt=0)
        signed: bool = True
        learnable: bool = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.raw_threshold = nn.Parameter(torch.tensor(self.params.threshold), requires_grad=self.params.learnable)

    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        lo = (-self.params.max_count if self.params.max_count else None) if self.params.signed else 0
        counts = RoundSTE.apply(x / self.raw_threshold)
        if lo is not None or self.params.max_count is not None:
            counts = counts.clamp(lo, self.params.max_count)
        return SpikeTensor.count(counts, self.raw_threshold.detach())


class UnaryRefCoding(SpikeCoding):
    """Unsigned unary coding (like binary): n steps of 1, each weighing 1."""

    name = "test_unary"

    def steps_for(self, counts: torch.Tensor) -> int:
        if counts.numel() and int(counts.min()) < 0:
            raise fastsnn.FastSNNError("test_unary carries only counts >= 0")
        return int(counts.max()) if counts.numel() else 0

    def step_weights(self, num_steps: int, device=None) -> torch.Tensor:
        return torch.ones(num_steps, dtype=torch.float64, device=device)

    def encode(self, counts: torch.Tensor, num_steps: int | None = None) -> torch.Tensor:
        needed = self.steps_for(counts)
        if num_steps is not None and needed > num_steps:
            raise fastsnn.FastSNNError(f"counts need {needed} steps, more than num_steps={num_steps}")
        steps = needed if num_steps is None else num_steps
        t = torch.arange(steps, device=counts.device).view(-1, *([1] * counts.dim()))
        return (counts > t).to(torch.int8)


class TernaryRefCoding(SpikeCoding):
    """Signed unary coding: |n| steps of sign(n), each step weighing 1."""

    name = "test_ternary"
    signed = True
    alphabet = (-1, 0, 1)

    def steps_for(self, counts: torch.Tensor) -> int:
        return int(counts.abs().max()) if counts.numel() else 0

    def step_weights(self, num_steps: int, device=None) -> torch.Tensor:
        return torch.ones(num_steps, dtype=torch.float64, device=device)

    def encode(self, counts: torch.Tensor, num_steps: int | None = None) -> torch.Tensor:
        steps = self.steps_for(counts) if num_steps is None else num_steps
        t = torch.arange(steps, device=counts.device).view(-1, *([1] * counts.dim()))
        return (counts.sign() * (counts.abs() > t)).to(torch.int8)


class RefComponents:
    @hookimpl
    def fastsnn_register_neurons(self, register):
        register("test_adaptive", AdaptiveRefNeuron)
        register("test_per_channel", PerChannelRefNeuron)
        register("test_fixed", FixedRefNeuron)

    @hookimpl
    def fastsnn_register_codings(self, register):
        register("test_ternary", TernaryRefCoding)
        register("test_unary", UnaryRefCoding)


@pytest.fixture(autouse=True)
def _plugins():
    with use_plugins(convert_plugin, ("test_neurons", RefComponents())) as manager:
        yield manager
