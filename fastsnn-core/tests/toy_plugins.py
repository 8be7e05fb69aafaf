"""Small in-process plugins used by core's tests (written against the public plugin API only)."""

from __future__ import annotations

import types

import torch
from pydantic import Field
from torch import nn

from fastsnn import AttentionBase, LayerCache, Params, SpikeCoding, SpikeTensor, SpikingNeuron, hookimpl


class UnitCoding(SpikeCoding):
    """Binary unary coding (one spike per unit count) — enough to test SpikeTensor."""

    name = "unit"
    alphabet = (0, 1)

    def steps_for(self, counts):
        return int(counts.max()) if counts.numel() else 0

    def step_weights(self, num_steps, device=None):
        return torch.ones(num_steps, dtype=torch.float64, device=device)

    def encode(self, counts, num_steps=None):
        if counts.numel() and int(counts.min()) < 0:
            raise ValueError("unit coding is unsigned")
        steps = self.steps_for(counts) if num_steps is None else num_steps
        t = torch.arange(steps).view(-1, *([1] * counts.dim()))
        return (t < counts.unsqueeze(0)).to(torch.int8)


class HalfNeuron(SpikingNeuron):
    """counts = round(x / threshold), straight-through."""

    class Params(Params):
        threshold: float = Field(0.5, gt=0, description="value of one spike")

    def spikes(self, x):
        scaled = x / self.params.threshold
        counts = scaled + (scaled.round() - scaled).detach()
        return SpikeTensor.count(counts, self.params.threshold)


class MeanCache(LayerCache):
    def __init__(self, batch_size, d_model, device=None, dtype=None):
        super().__init__(batch_size)
        self.total = torch.zeros(batch_size, d_model, device=device, dtype=dtype)


class CumMean(AttentionBase):
    """Causal running mean of a projection (a toy token mixer with an O(1) cache)."""

    class Params(Params):
        window: int = Field(4, gt=0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.proj = nn.Linear(self.d_model, self.d_model)

    def init_cache(self, batch_size, device=None, dtype=None):
        return MeanCache(batch_size, self.d_model, device, dtype)

    def mix(self, x, cache, start):
        v = self.proj(x)
        csum = v.cumsum(1) + (0 if cache is None else cache.total.unsqueeze(1))
        counts = torch.arange(start + 1, start + x.shape[1] + 1, device=x.device).view(1, -1, 1)
        if cache is not None:
            cache.total = csum[:, -1]
        return csum / counts


def make_plugin(name="toy", **overrides):
    """A module-like plugin registering one neuron, coding and attention (names can be overridden)."""

    @hookimpl
    def fastsnn_register_neurons(register):
        register(overrides.get("neuron", "half"), HalfNeuron)

    @hookimpl
    def fastsnn_register_codings(register):
        register(overrides.get("coding", "unit"), UnitCoding)

    @hookimpl
    def fastsnn_register_attention(register):
        register(overrides.get("attention", "cummean"), CumMean)

    mod = types.ModuleType(name)
    mod.PLUGIN_API_VERSION = overrides.get("api", "2.0")
    mod.fastsnn_register_neurons = fastsnn_register_neurons
    mod.fastsnn_register_codings = fastsnn_register_codings
    mod.fastsnn_register_attention = fastsnn_register_attention
    return mod
