"""The kinds table: what a component kind is, in one record, and the kinds core declares.

A kind is one :class:`Kind` record: the hook plugins implement to register components of it,
the arguments the builder supplies besides the component's own params (its *context*), the
base class a component must derive from (its contract), and which first-party distribution
ships which names (so a missing one can say what to install). Core declares the kinds below;
a plugin declares more through ``fastsnn_register_kinds`` (see :mod:`fastsnn.hookspecs`),
the way pytest's ``pytest_addhooks`` lets a plugin add hooks. Nothing else lists kinds.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

from fastsnn.errors import FastSNNError

#: The neuron every config uses unless it names another (SpikingBrain's sINT neuron).
DEFAULT_NEURON = "adaptive_threshold"


@dataclass(frozen=True)
class Kind:
    """One component kind.

    - ``name`` — singular noun used in configs and the CLI (``"neuron"``).
    - ``hook`` — the ``fastsnn_register_*`` hook that registers components of this kind.
    - ``description`` — one line for ``fastsnn list`` and the docs.
    - ``context`` — arguments the builder always supplies (``create`` requires them).
    - ``optional_context`` — arguments the builder may supply.
    - ``built_context`` — context arguments that are themselves components, by kind: given as a
      name, table or ComponentRef they are built first (``{"neuron": "neuron"}`` for FFNs).
    - ``base`` — ``"module:Class"``: component classes must subclass it and implement its abstract
      methods; whatever a factory returns must be an instance of it. ``None``: no class contract.
    - ``required`` — methods a component class must define itself, beyond the base's abstract ones
      (``("forward",)`` for ``nn.Module`` kinds).
    - ``providers`` — component name → the distribution that ships it (for "pip install X" hints).
    - ``declared_by`` — the distribution that declared the kind.
    """

    name: str
    hook: str
    description: str
    context: tuple[str, ...] = ()
    optional_context: tuple[str, ...] = ()
    built_context: dict[str, str] = field(default_factory=dict)
    base: str | None = None
    required: tuple[str, ...] = ()
    providers: dict[str, str] = field(default_factory=dict)
    declared_by: str = "fastsnn-core"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise FastSNNError(f"a kind name must be an identifier, got {self.name!r}")
        if not isinstance(self.hook, str) or not self.hook.startswith("fastsnn_register_") or not self.hook.isidentifier():
            raise FastSNNError(f"kind {self.name!r}: its hook must be named fastsnn_register_<something>, got {self.hook!r}")
        if self.base is not None and (not isinstance(self.base, str) or ":" not in self.base):
            raise FastSNNError(f"kind {self.name!r}: base must be 'module:Class', got {self.base!r}")

    def base_class(self) -> type | None:
        """The contract class, imported on first use (so this table imports no component code)."""
        if self.base is None:
            return None
        module_name, _, qualname = self.base.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as err:
            raise FastSNNError(f"kind {self.name!r}: its base class {self.base} cannot be imported: {err}") from None
        if not inspect.isclass(obj):
            raise FastSNNError(f"kind {self.name!r}: its base {self.base} is not a class")
        return obj

    @property
    def all_context(self) -> tuple[str, ...]:
        return self.context + self.optional_context

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hook": self.hook,
            "description": self.description,
            "context": list(self.context),
            "optional_context": list(self.optional_context),
            "base": self.base,
            "declared_by": self.declared_by,
        }


def _provided(dist: str, *names: str) -> dict[str, str]:
    return dict.fromkeys(names, dist)


#: The kinds core declares. Plugins add theirs through ``fastsnn_register_kinds``.
CORE_KINDS: tuple[Kind, ...] = (
    Kind("neuron", "fastsnn_register_neurons", "spiking neurons: real inputs → spike counts",
         base="fastsnn.neuron:SpikingNeuron",
         providers=_provided("fastsnn-neurons", "adaptive_threshold", "fixed_threshold", "lif_sint", "if", "lif")),
    Kind("surrogate", "fastsnn_register_surrogates", "surrogate gradients of the spike function",
         base="fastsnn.surrogate:Surrogate",
         providers=_provided("fastsnn-neurons", "ste", "atan", "sigmoid", "rectangular", "triangle")),
    Kind("coding", "fastsnn_register_codings", "spike codings: integer counts ↔ event trains, exactly",
         base="fastsnn.coding:SpikeCoding",
         providers=_provided("fastsnn-neurons", "binary", "ternary", "bitwise", "bitwise_bidirectional",
                             "twos_complement")),
    Kind("attention", "fastsnn_register_attention", "token mixers with a parallel and an incremental (cached) form",
         context=("d_model", "n_heads"), optional_context=("layer_idx", "max_seq_len"),
         base="fastsnn.attention:AttentionBase",
         providers=_provided("fastsnn-attention", "linear", "swa", "softmax", "gla", "hybrid_par")),
    Kind("layout", "fastsnn_register_layouts", "per-layer attention layouts: one attention reference per layer",
         context=("n_layers",), providers=_provided("fastsnn-attention", "hybrid_alt")),
    Kind("ffn", "fastsnn_register_ffn", "feed-forward blocks around a spiking neuron",
         context=("d_model", "d_ff", "neuron"), built_context={"neuron": "neuron"},
         base="torch.nn:Module", required=("forward",)),
    Kind("norm", "fastsnn_register_norms", "normalisation layers", context=("dim",),
         base="torch.nn:Module", required=("forward",)),
    Kind("rule", "fastsnn_register_conversion_rules", "ANN→SNN conversion rules",
         base="fastsnn.convert.rule:ConversionRule",
         providers=_provided("fastsnn-convert", "relu", "gelu", "silu", "linear")),
    Kind("exporter", "fastsnn_register_exporters", "exporters: a model → files for deployment",
         base="fastsnn.export.base:Exporter"),
    Kind("benchmark", "fastsnn_register_benchmarks", "benchmarks run by `fastsnn bench NAME`",
         base="fastsnn.benchmark:Benchmark"),
)

#: Kinds that plugins declare, so that a config naming one can say what to install.
KNOWN_PLUGIN_KINDS: dict[str, str] = {"feature_map": "fastsnn-attention"}


def missing_members(cls: type, kind: Kind) -> list[str]:
    """The methods ``cls`` must still implement to satisfy ``kind``'s contract (empty: none)."""
    import torch.nn as nn

    missing = []
    for name in sorted(dir(cls)):
        if getattr(getattr(cls, name, None), "__isabstractmethod__", False):
            missing.append(name)
    for name in kind.required:
        attr = getattr(cls, name, None)
        if attr is None or attr is getattr(nn.Module, name, object()) or name in missing:
            if name not in missing:
                missing.append(name)
    return missing
