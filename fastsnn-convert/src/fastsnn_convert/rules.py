"""Conversion rules: activations → spiking neurons; Linear/Conv → temporal layers; BatchNorm folded;
pooling, flatten and dropout for spiking inputs.

Rules match exact classes: a subclass may change ``forward``, so it is kept unless a rule for
it is registered. Activations called functionally (``F.relu(x)`` inside a ``forward``) reach
these rules too: the engine traces such forwards with ``torch.fx`` and offers each call as the
equivalent module (``nn.ReLU()``, ``nn.GELU(approximate=...)``, ``nn.SiLU()``); see
:mod:`fastsnn.convert.functional`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from pydantic import Field
from torch import nn
from torch.nn.modules.linear import NonDynamicallyQuantizableLinear

import fastsnn
from fastsnn import ConversionContext, ConversionRule, get_registry
from fastsnn_convert.fold import fold_batchnorm
from fastsnn_convert.modules import (
    _POOLS,
    SpikingActivation,
    TemporalConv1d,
    TemporalConv2d,
    TemporalFlatten,
    TemporalLinear,
    TemporalPool,
    _nonnegative,
)


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
        activation = module if self.params.keep_activation else None
        ref = _neuron_ref_for(context.neuron, nonnegative=activation is not None and _nonnegative(activation))
        neuron = dataclasses.replace(context, neuron=ref).build_neuron()
        return SpikingActivation(activation, neuron, neuron_ref=ref, feature_dim=context.width)

    def describe(self, original: nn.Module, replacement: nn.Module) -> str:
        neuron = replacement.neuron if isinstance(replacement, SpikingActivation) else replacement
        how = "after the activation" if self.params.keep_activation else "instead of the activation"
        return f"{type(neuron).__name__} {how}"


class ReLURule(ActivationRule):
    """ReLU → spiking neuron (counts of ``relu(x)``, so never negative)."""

    activation_types = (nn.ReLU,)


class ReLU6Rule(ActivationRule):
    """ReLU6 → spiking neuron (counts of ``relu6(x)``: never negative, at most ``6 / V_th``)."""

    activation_types = (nn.ReLU6,)


class LeakyReLURule(ActivationRule):
    """LeakyReLU → spiking neuron (negative values become negative counts: needs a signed coding)."""

    activation_types = (nn.LeakyReLU,)


class HardtanhRule(ActivationRule):
    """Hardtanh → spiking neuron (counts of ``hardtanh(x)``; non-negative when ``min_val >= 0``)."""

    activation_types = (nn.Hardtanh,)


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


def _neuron_ref_for(neuron: Any, *, nonnegative: bool) -> Any:
    """The neuron reference for one activation: ``neuron``, with ``signed=false`` added when the
    activation is never negative (ReLU, ReLU6) and the neuron has a ``signed`` parameter the
    reference leaves unset — so its counts fit the unsigned codings (binary, bitwise)."""
    registry = get_registry()
    parts = registry.ref_parts("neuron", neuron)
    if parts is None or not nonnegative:
        return neuron
    name, params = parts
    if "signed" in params or "signed" not in registry.get("neuron", name).params.model_fields:
        return neuron
    return {"name": name, **params, "signed": False}


class ConvRule(ConversionRule):
    """Conv1d/Conv2d → TemporalConv1d/2d: same parameters; takes ``[B, C, ...]``, ``[B, T, C, ...]``
    and spikes (convolved step by step)."""

    def matches(self, module: nn.Module, qualname: str) -> bool:
        return type(module) in (nn.Conv1d, nn.Conv2d)

    def convert(self, module: nn.Module, qualname: str, context: ConversionContext) -> nn.Module:
        cls = TemporalConv1d if type(module) is nn.Conv1d else TemporalConv2d
        return cls.from_conv(module)

    def describe(self, original: nn.Module, replacement: nn.Module) -> str:
        return f"{original.in_channels}→{original.out_channels} channels, same weights"


class BatchNormRule(ConversionRule):
    """BatchNorm folded into the Linear/Conv that feeds it (before the walk; see :func:`fold_batchnorm`).

    The fold uses the running statistics, so the folded network equals the unfused one in eval
    mode, exactly up to float rounding. A BatchNorm with nothing to fold into is kept (listed in
    the report's notes with the reason).
    """

    priority = 10

    def matches(self, module: nn.Module, qualname: str) -> bool:
        return False  # all the work is in prepare(); an unfoldable BatchNorm is kept

    def convert(self, module: nn.Module, qualname: str, context: ConversionContext) -> nn.Module:
        """A BatchNorm offered on its own has nothing to fold into: it is kept as it is."""
        return module

    def prepare(self, model: nn.Module, context: ConversionContext) -> list[Any]:
        return fold_batchnorm(model)


class PoolRule(ConversionRule):
    """Max/average pooling (1-D, 2-D, adaptive) → :class:`TemporalPool` (temporal inputs and spikes;
    max pooling of spikes is the max over counts, see the class)."""

    def matches(self, module: nn.Module, qualname: str) -> bool:
        return type(module) in _POOLS

    def convert(self, module: nn.Module, qualname: str, context: ConversionContext) -> nn.Module:
        return TemporalPool(module)

    def describe(self, original: nn.Module, replacement: nn.Module) -> str:
        if replacement.kind == "avg":
            return "linear: exact on counts and trains"
        return "max over spike counts (exact with one spike value per window; passes the winner's train)"


class FlattenRule(ConversionRule):
    """Flatten → :class:`TemporalFlatten`, told one sample's rank by the last convolution before it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sample_dims: dict[int, int] = {}

    def matches(self, module: nn.Module, qualname: str) -> bool:
        return type(module) is nn.Flatten

    def prepare(self, model: nn.Module, context: ConversionContext) -> list[Any]:
        rank = None
        for module in model.modules():  # registration order, as the engine infers widths
            if isinstance(module, nn.modules.conv._ConvNd):
                rank = len(module.kernel_size) + 1  # [C, L] or [C, H, W]
            elif type(module) is nn.Flatten and rank is not None:
                self._sample_dims[id(module)] = rank
        return []

    def convert(self, module: nn.Module, qualname: str, context: ConversionContext) -> nn.Module:
        return TemporalFlatten.from_flatten(module, self._sample_dims.get(id(module)))

    def describe(self, original: nn.Module, replacement: nn.Module) -> str:
        if replacement.sample_dims is None:
            return "no convolution before it: flattens as nn.Flatten"
        return f"one sample has {replacement.sample_dims} axes: [B, T, ...] keeps T"


class DropoutRule(ConversionRule):
    """Dropout (any variant) → removed (``nn.Identity``): conversion targets inference."""

    def matches(self, module: nn.Module, qualname: str) -> bool:
        return isinstance(module, nn.modules.dropout._DropoutNd)

    def convert(self, module: nn.Module, qualname: str, context: ConversionContext) -> nn.Module:
        return nn.Identity()

    def describe(self, original: nn.Module, replacement: nn.Module) -> str:
        return "removed (identity at inference)"
