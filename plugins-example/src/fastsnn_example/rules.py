"""``hardtanh``: convert Hardtanh / ReLU6 into the ``clipped_sint`` neuron.

A bounded activation ``clamp(x, a, b)`` becomes ``levels`` steps of ``θ = (b − a) / levels``:
``clipped_sint(threshold=θ, min_count=round(a/θ), max_count=round(b/θ))``. The error against
the original activation is at most ``θ/2`` for every input. The neuron is looked up by name in
the registry (``fastsnn.create``), as plugins do with each other's components.
"""

from __future__ import annotations

from pydantic import Field
from torch import nn

import fastsnn
from fastsnn import ConversionContext, ConversionRule


class HardtanhRule(ConversionRule):
    """Hardtanh/ReLU6 → ``clipped_sint`` with ``levels`` spike levels over the clipping range."""

    class Params(fastsnn.Params):
        levels: int = Field(16, ge=2, description="spike levels over [min_val, max_val]; θ = range / levels")

    def matches(self, module: nn.Module, qualname: str) -> bool:
        return type(module) in (nn.Hardtanh, nn.ReLU6)

    def convert(self, module: nn.Module, qualname: str, context: ConversionContext) -> nn.Module:
        low, high = float(module.min_val), float(module.max_val)
        threshold = (high - low) / self.params.levels
        return fastsnn.create("neuron", "clipped_sint", threshold=threshold,
                              min_count=round(low / threshold), max_count=round(high / threshold))

    def describe(self, original: nn.Module, replacement: nn.Module) -> str:
        return f"{self.params.levels} levels of θ={replacement.params.threshold:.4g}"
