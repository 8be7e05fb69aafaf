"""The component registry: kind → name → :class:`ComponentSpec`.

Plugins fill it through the hooks in :mod:`fastsnn.hookspecs`; :func:`fastsnn.create` and the
model builder read it. The registry itself knows nothing about entry points.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, ValidationError

from fastsnn.errors import DuplicateComponentError, FastSNNError, UnknownComponentError

#: Hook name for each component kind (kinds are singular nouns).
KIND_HOOKS: dict[str, str] = {
    "neuron": "fastsnn_register_neurons",
    "surrogate": "fastsnn_register_surrogates",
    "coding": "fastsnn_register_codings",
    "attention": "fastsnn_register_attention",
    "layout": "fastsnn_register_layouts",
    "ffn": "fastsnn_register_ffn",
    "norm": "fastsnn_register_norms",
    "rule": "fastsnn_register_conversion_rules",
    "exporter": "fastsnn_register_exporters",
    "benchmark": "fastsnn_register_benchmarks",
}

#: Arguments the builder supplies to a factory of each kind, besides the component's own params.
KIND_CONTEXT: dict[str, tuple[str, ...]] = {
    "attention": ("d_model", "n_heads", "layer_idx", "max_seq_len"),
    "layout": ("n_layers",),
    "ffn": ("d_model", "d_ff", "neuron"),
    "norm": ("dim",),
}

#: Components shipped by first-party packages, so a missing one can name what to install.
KNOWN_PROVIDERS: dict[str, dict[str, str]] = {
    "neuron": dict.fromkeys(
        ["adaptive_threshold", "fixed_threshold", "lif_sint", "if", "lif"], "fastsnn-neurons"
    ),
    "surrogate": dict.fromkeys(["ste", "atan", "sigmoid", "rectangular", "triangle"], "fastsnn-neurons"),
    "coding": dict.fromkeys(
        ["binary", "ternary", "bitwise", "bitwise_bidirectional", "twos_complement"], "fastsnn-neurons"
    ),
    "attention": dict.fromkeys(["linear", "swa", "softmax", "gla", "hybrid_par"], "fastsnn-attention"),
    "layout": dict.fromkeys(["hybrid_alt"], "fastsnn-attention"),
    "rule": dict.fromkeys(["relu", "gelu", "silu", "linear"], "fastsnn-convert"),
}


class NoParams(BaseModel):
    """Params model of a component without hyperparameters."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ComponentSpec:
    """Everything the registry knows about one component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    params: type[BaseModel]
    description: str
    plugin: str
    distribution: str
    version: str

    def validate_params(self, values: dict[str, Any]) -> BaseModel:
        """Validate ``values`` against this component's ``Params`` (raises pydantic's error)."""
        return self.params.model_validate(values)

    def build(self, params: BaseModel | dict[str, Any] | None = None, /, **context: Any) -> Any:
        """Call the factory with the builder's ``context`` and validated ``params``."""
        if params is None:
            params = {}
        if isinstance(params, dict):
            params = self.validate_params(params)
        return self.factory(**context, **dict(params))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (used by ``fastsnn list/info --json``)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "params": self.params.model_json_schema(),
        }


def _first_doc_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


@dataclass
class Registry:
    """Kind → name → spec, plus a record of names that two plugins both claimed."""

    _specs: dict[str, dict[str, ComponentSpec]] = field(default_factory=dict)
    _conflicts: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def add(self, spec: ComponentSpec) -> None:
        """Add one spec; a name already taken in that kind raises :class:`DuplicateComponentError`."""
        if spec.kind not in KIND_HOOKS:
            raise FastSNNError(f"unknown component kind {spec.kind!r}; kinds are: {', '.join(KIND_HOOKS)}")
        kind_specs = self._specs.setdefault(spec.kind, {})
        if spec.name in kind_specs:
            first = kind_specs[spec.name]
            self._conflicts.setdefault((spec.kind, spec.name), [first.distribution]).append(spec.distribution)
            raise DuplicateComponentError(
                f"{spec.kind} {spec.name!r} is registered twice: by plugin {first.plugin!r} "
                f"(distribution {first.distribution}) and by plugin {spec.plugin!r} "
                f"(distribution {spec.distribution}); uninstall one of them or restrict loading "
                "with FASTSNN_LOAD_PLUGINS"
            )
        kind_specs[spec.name] = spec

    def get(self, kind: str, name: str) -> ComponentSpec:
        """Look up one component; unknown names list what is available and the closest match."""
        if kind not in KIND_HOOKS:
            raise UnknownComponentError("component kind", kind, list(KIND_HOOKS))
        if (kind, name) in self._conflicts:
            dists = " and ".join(self._conflicts[(kind, name)])
            raise DuplicateComponentError(
                f"{kind} {name!r} is registered by two distributions ({dists}); uninstall one of "
                "them or restrict loading with FASTSNN_LOAD_PLUGINS"
            )
        try:
            return self._specs.get(kind, {})[name]
        except KeyError:
            hint = None
            provider = KNOWN_PROVIDERS.get(kind, {}).get(name)
            if provider:
                hint = f"{kind} {name!r} is provided by {provider}: pip install {provider}"
            raise UnknownComponentError(kind, name, self.names(kind), hint) from None

    def names(self, kind: str) -> list[str]:
        """Sorted names registered for ``kind``."""
        return sorted(self._specs.get(kind, {}))

    def specs(self, kind: str | None = None) -> list[ComponentSpec]:
        """All specs, optionally of one kind, sorted by kind then name."""
        kinds = [kind] if kind is not None else list(KIND_HOOKS)
        if kind is not None and kind not in KIND_HOOKS:
            raise UnknownComponentError("component kind", kind, list(KIND_HOOKS))
        return [s for k in kinds for _, s in sorted(self._specs.get(k, {}).items())]

    def create(self, kind: str, name: str, /, **kwargs: Any) -> Any:
        """Build ``name`` of ``kind``: kwargs are split into builder context and params.

        Context names (see :data:`KIND_CONTEXT`) go to the factory untouched; everything else is
        validated by the component's ``Params`` model (extra fields are an error).
        """
        spec = self.get(kind, name)
        context_names = KIND_CONTEXT.get(kind, ())
        context = {k: v for k, v in kwargs.items() if k in context_names and k not in spec.params.model_fields}
        params = {k: v for k, v in kwargs.items() if k not in context}
        try:
            validated = spec.validate_params(params)
        except ValidationError as err:
            raise FastSNNError(
                f"bad parameters for {kind} {name!r} (from {spec.distribution}):\n"
                + format_validation_error(err)
            ) from None
        return spec.build(validated, **context)


def make_spec(
    kind: str,
    name: str,
    factory: Callable[..., Any],
    *,
    params: type[BaseModel] | None = None,
    description: str | None = None,
    version: str | None = None,
    plugin: str,
    distribution: str,
    dist_version: str,
) -> ComponentSpec:
    """Check one registration and turn it into a spec (raises ``FastSNNError`` if invalid)."""
    if not isinstance(name, str) or (not name.isidentifier() and not name.replace("-", "_").isidentifier()):
        raise FastSNNError(f"{kind} name must be an identifier-like string, got {name!r}")
    if not callable(factory):
        raise FastSNNError(f"{kind} {name!r}: factory must be callable, got {type(factory).__name__}")
    if params is None:
        params = getattr(factory, "Params", None) or NoParams
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise FastSNNError(f"{kind} {name!r}: params must be a pydantic BaseModel subclass")
    if params.model_config.get("extra") != "forbid":
        raise FastSNNError(
            f"{kind} {name!r}: its Params model must set model_config = ConfigDict(extra='forbid') "
            "so that misspelt parameters are reported"
        )
    return ComponentSpec(
        kind=kind,
        name=name,
        factory=factory,
        params=params,
        description=description or _first_doc_line(factory),
        plugin=plugin,
        distribution=distribution,
        version=version or dist_version,
    )


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    """Render a pydantic error as ``path: message`` lines, e.g. ``model.layers[3].window: ...``."""
    lines = []
    for item in err.errors():
        path = format_loc(item["loc"], prefix)
        lines.append(f"  {path or '(root)'}: {item['msg']}")
    return "\n".join(lines)


def format_loc(loc: tuple[Any, ...] | list[Any], prefix: str = "") -> str:
    """``("layers", 3, "window")`` → ``layers[3].window``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
