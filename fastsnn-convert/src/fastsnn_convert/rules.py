"""Conversion rules: ReLU/GELU/SiLU → spiking neurons, Linear → :class:`TemporalLinear`.

Rules match exact classes: a subclass may change ``forward``, so it is kept unless a rule for
it is registered. Activations called functionally (``F.relu(x)`` inside a ``forward``) reach
these rules too: the engine traces such forwards with ``torch.fx`` and offers each call as the
equivalent module (``nn.ReLU()``, ``nn.GELU(approximate=...)``, ``nn.SiLU()``); see
:mod:`fastsnn.convert.functional`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from torch import nn
from torch.nn.modules.linear import NonDynamicallyQuantizableLinear

import fastsnn
from fastsnn import ConversionContext, ConversionRule
from fastsnn_convert.modules import SpikingActivation, TemporalLinear


class ActivationRule(ConversionRule):
    """Replace an activation module by ``neuron(activation(x))`` with the context's neuron."""

    #: the exact activation classes this rule handles (set by subclasses)
    activation_types: ClassVar[tuple[type[nn.Module], ...]] = ()

    class Params(fastsnn.Params):
        keep_activation: bool = Field(
            True,
            description="apply the original activation before the neuron (false: the neuron alone replaces it)",
        )

    def matches(self, module: nn.Module, qualname: str) -> bool:
        return type(module) in self.activation_types

    def convert(self, module: nn.Module, qualname: str, context: ConversionContext) -> nn.Module:
        neuron = context.build_neuron()
        return SpikingActivation(module if self.params.keep_activation else None, neuron, neuron_ref=context.neuron)

    def describe(self, original: nn.Module, replacement: nn.Module) -> str:
        neuron = replacement.neuron if isinstance(replacement, SpikingActivation) else replacement
        how = "after the activation" if self.params.keep_activation else "instead of the activation"
        return f"{type(neuron).__name__} {how}"


class ReLURule(ActivationRule):
    """ReLU → spiking neuron (counts of ``relu(x)``, so never negative)."""

    activation_types = (nn.ReLU,)


class GELURule(ActivationRule):
    """GELU → spiking neuron (counts of ``gelu(x)``; small negative values become signed counts)."""

    activation_types = (nn.GELU,)


class SiLURule(ActivationRule):
    """SiLU → spiking neuron (counts of ``silu(x)``)."""

    activation_types = (nn.SiLU,)


class LinearRule(ConversionRule):
    """Linear → TemporalLinear: same parameters, accepts ``[..., D]`` tensors and spike trains."""

    def matches(self, module: nn.Module, qualname: str) -> bool:
        return type(module) in (nn.Linear, NonDynamicallyQuantizableLinear)

    def convert(self, module: nn.Module, qualname: str, context: ConversionContext) -> nn.Module:
        return TemporalLinear.from_linear(module)

    def describe(self, original: nn.Module, replacement: nn.Module) -> str:
        return f"{original.in_features}→{original.out_features}, same weights"
