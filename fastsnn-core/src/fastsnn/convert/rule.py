"""The ANN→SNN conversion contract: rules that match modules and say what replaces them.

A rule is registered under the kind ``rule`` (hook ``fastsnn_register_conversion_rules``);
:func:`fastsnn.convert.convert` walks a model and asks each rule, in descending
:attr:`ConversionRule.priority`, whether it handles a module. The first that does replaces it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from fastsnn.errors import FastSNNError
from fastsnn.kind_table import DEFAULT_NEURON
from fastsnn.params import Component, Params
from fastsnn.plugins import get_registry

#: Attribute the engine sets on every replacement so that converting twice changes nothing.
CONVERTED_MARK = "fastsnn_converted"
#: The value of :data:`CONVERTED_MARK` on modules a rule's :meth:`ConversionRule.prepare` put in place.
PREPARED = "prepared"


@dataclass
class ConversionContext:
    """What a rule may need while converting one module.

    - ``neuron`` — the spiking neuron to insert for activations: a registered name, a
      ``{"name": ..., **params}`` dict or a ComponentRef (build it with :meth:`build_neuron`).
    - ``d_model`` — the width to assume where the model does not tell (``d_model_fallback``).
    - ``feature_dim`` — the width of the features reaching this module, inferred by the engine
      from the last layer with a known output width before it (``None`` if unknown).
    - ``options`` — free-form settings passed to :func:`fastsnn.convert.convert`.
    """

    neuron: Any = DEFAULT_NEURON
    d_model: int | None = None
    feature_dim: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> int | None:
        """The inferred feature width, else the fallback ``d_model``."""
        return self.feature_dim if self.feature_dim is not None else self.d_model

    def build_neuron(self) -> nn.Module:
        """A fresh neuron module from :attr:`neuron` (through the registry).

        If the neuron's ``Params`` declares a ``dim`` field that the reference leaves unset, the
        inferred :attr:`width` is passed as ``dim`` (for neurons with per-feature parameters).
        """
        registry = get_registry()
        parts = registry.ref_parts("neuron", self.neuron)
        if parts is None:  # already a module
            return self.neuron
        name, params = parts
        if "dim" not in params:
            dim_field = registry.get("neuron", name).params.model_fields.get("dim")
            if dim_field is not None and self.width is not None:
                params = {**params, "dim": self.width}
            elif dim_field is not None and dim_field.is_required():
                raise FastSNNError(
                    f"neuron {name!r} needs 'dim' (the feature width), which cannot be inferred here; "
                    "pass d_model= to convert() (d_model_fallback= to convert_ann_to_snn) or give "
                    "{'name': ..., 'dim': N} as the neuron"
                )
        return registry.create("neuron", name, **params)


class ConversionRule(Component, ABC):
    """Base class of registered conversion rules (kind ``rule``); hyperparameters in a nested ``Params``.

    Rules are tried in descending ``priority``; the first whose :meth:`matches` is true
    replaces the module with :meth:`convert`'s result. Unmatched modules are kept, and their
    children are visited. A replacement's own children are not visited again.
    """

    #: higher runs first; ties keep registration order
    priority: int = 0

    def __init__(self, *, params: Params | Mapping[str, Any] | None = None, **values: Any) -> None:
        self.init_params(params, values)

    @abstractmethod
    def matches(self, module: nn.Module, qualname: str) -> bool:
        """Whether this rule handles ``module`` (found at ``qualname`` in the model)."""

    @abstractmethod
    def convert(self, module: nn.Module, qualname: str, context: ConversionContext) -> nn.Module:
        """The replacement for ``module``."""

    def describe(self, original: nn.Module, replacement: nn.Module) -> str:
        """One line for the conversion report (override to say more, e.g. a chosen threshold)."""
        return ""

    def prepare(self, model: nn.Module, context: ConversionContext) -> list[Any]:
        """Rewrite ``model`` (the copy being converted) in place before the module walk; default: nothing.

        For changes one module cannot make alone, e.g. folding a BatchNorm into the layer before
        it. Return one :class:`~fastsnn.convert.Replacement` per change (``rule`` may be left
        ``""``: the engine fills in this rule's name). A module the pass puts into the model
        should carry ``setattr(module, CONVERTED_MARK, PREPARED)``: the walk then leaves it alone
        without listing it again.
        """
        return []
