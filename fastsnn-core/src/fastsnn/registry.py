"""The component registry: kind → name → :class:`ComponentSpec`, and the kinds table it is keyed by.

Plugins fill it through the hooks in :mod:`fastsnn.hookspecs`; :func:`fastsnn.create` and the
model builder read it. The registry knows nothing about entry points (that is
:mod:`fastsnn.plugins`).

Where two distributions register one name, neither owns the plain name: using it is an error that
names both, and each stays reachable by its qualified name ``"<distribution>:<name>"``
(``"fastsnn-neurons:adaptive_threshold"``). Components that do not clash are unaffected.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import distribution as find_distribution
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from fastsnn.errors import (
    DuplicateComponentError,
    FastSNNError,
    UnknownComponentError,
    format_loc,
    format_validation_error,
)
from fastsnn.kind_table import CORE_KINDS, KNOWN_PLUGIN_KINDS, Kind, missing_members
from fastsnn.params import NoParams

__all__ = [
    "ComponentSpec",
    "NoParams",
    "Registry",
    "format_loc",
    "format_validation_error",
    "is_component_ref",
    "make_spec",
]


def is_component_ref(value: Any) -> bool:
    """Whether ``value`` is a config :class:`~fastsnn.config.ComponentRef` (duck-typed, to keep this
    module free of config imports)."""
    return getattr(type(value), "__fastsnn_ref__", False) is True


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
    contract: Kind | None = field(default=None, compare=False, repr=False)

    @property
    def qualified_name(self) -> str:
        """``"<distribution>:<name>"``, unique even when two distributions use one name."""
        return f"{self.distribution}:{self.name}"

    def validate_params(self, values: Mapping[str, Any]) -> BaseModel:
        """Validate ``values`` against this component's ``Params`` (raises pydantic's error)."""
        return self.params.model_validate(dict(values))

    def build(self, params: BaseModel | Mapping[str, Any] | None = None, /, **context: Any) -> Any:
        """Call the factory as ``factory(**context, params=validated)``.

        :raises FastSNNError: invalid params, or the factory failed (naming the component and its
            plugin), or it returned something that breaks the kind's contract.
        """
        if params is None:
            params = {}
        if not isinstance(params, self.params):
            try:
                params = self.validate_params(params if isinstance(params, Mapping) else dict(params))
            except ValidationError as err:
                raise FastSNNError(
                    f"bad parameters for {self.kind} {self.name!r} (from {self.distribution}):\n"
                    + format_validation_error(err)
                ) from None
        try:
            built = self.factory(**context, params=params)
        except FastSNNError:
            raise
        except Exception as err:
            raise FastSNNError(
                f"{self.kind} {self.name!r} from plugin {self.plugin!r} ({self.distribution} {self.version}) "
                f"failed to build: {type(err).__name__}: {err}"
            ) from err
        base = self.contract.base_class() if self.contract is not None else None
        if base is not None and not isinstance(built, base):
            raise FastSNNError(
                f"{self.kind} {self.name!r} from plugin {self.plugin!r} ({self.distribution}) built a "
                f"{type(built).__name__}, which is not a {public_name(base)}; "
                "the plugin breaks the contract of its kind"
            )
        return built

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


def public_name(cls: type) -> str:
    """``fastsnn.SpikingNeuron`` for classes exported at the top of ``fastsnn``, else ``module.Qualname``."""
    import sys

    top = sys.modules.get("fastsnn")
    if top is not None and getattr(top, cls.__name__, None) is cls:
        return f"fastsnn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _first_doc_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


@dataclass
class Registry:
    """The kinds table, kind → name → spec, name clashes, and what is known of each distribution.

    ``distribution_status`` (filled by the plugin manager) maps a distribution name to ``"ok"``,
    ``"not loaded"`` or ``"broken: <error>"``, so a missing component can say whether to
    install, enable or repair its package.
    """

    kinds: dict[str, Kind] = field(default_factory=lambda: {k.name: k for k in CORE_KINDS})
    _specs: dict[str, dict[str, ComponentSpec]] = field(default_factory=dict)
    _clashes: dict[tuple[str, str], list[ComponentSpec]] = field(default_factory=dict)
    distribution_status: dict[str, str] = field(default_factory=dict)

    # -- kinds ------------------------------------------------------------------------------
    def add_kind(self, kind: Kind) -> None:
        """Declare a kind; a name or hook already in the table is an error naming both declarers."""
        if kind.name in self.kinds:
            raise FastSNNError(
                f"kind {kind.name!r} is declared twice: by {self.kinds[kind.name].declared_by} and by {kind.declared_by}"
            )
        same_hook = [k for k in self.kinds.values() if k.hook == kind.hook]
        if same_hook:
            raise FastSNNError(f"kind {kind.name!r}: hook {kind.hook} already belongs to kind {same_hook[0].name!r}")
        self.kinds[kind.name] = kind

    def kind(self, name: str) -> Kind:
        """The :class:`Kind` record; an unknown kind lists the known ones (and what would add it)."""
        if not isinstance(name, str):
            raise FastSNNError(f"a component kind must be a string, got {name!r}; kinds are: {', '.join(self.kinds)}")
        if name not in self.kinds:
            provider = KNOWN_PLUGIN_KINDS.get(name) if isinstance(name, str) else None
            raise UnknownComponentError("component kind", name, list(self.kinds),
                                        self._provider_hint(provider, f"kind {name!r}") if provider else None)
        return self.kinds[name]

    # -- adding -----------------------------------------------------------------------------
    def add(self, spec: ComponentSpec) -> None:
        """Add one spec. A name another distribution registered too becomes a clash: the plain name
        is refused on use (naming both), the qualified names keep working."""
        self.kind(spec.kind)
        kind_specs = self._specs.setdefault(spec.kind, {})
        key = (spec.kind, spec.name)
        if key in self._clashes:
            self._clashes[key].append(spec)
            return
        if spec.name in kind_specs:
            first = kind_specs[spec.name]
            if first.distribution == spec.distribution and first.plugin == spec.plugin:
                raise DuplicateComponentError(
                    f"plugin {spec.plugin!r} ({spec.distribution}) registers {spec.kind} {spec.name!r} twice"
                )
            self._clashes[key] = [kind_specs.pop(spec.name), spec]
            return
        kind_specs[spec.name] = spec

    def remove(self, spec: ComponentSpec) -> None:
        """Undo :meth:`add` (used to roll back a plugin that failed half-way)."""
        key = (spec.kind, spec.name)
        if key in self._clashes:
            rest = [s for s in self._clashes[key] if s is not spec]
            if len(rest) == 1:
                del self._clashes[key]
                self._specs.setdefault(spec.kind, {})[spec.name] = rest[0]
            else:
                self._clashes[key] = rest
        elif self._specs.get(spec.kind, {}).get(spec.name) is spec:
            del self._specs[spec.kind][spec.name]

    # -- lookup -----------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> ComponentSpec:
        """Look up one component by name or qualified name (``"dist:name"``).

        :raises UnknownComponentError: no such kind or name (with "did you mean" and what to install).
        :raises DuplicateComponentError: two distributions registered ``name``.
        """
        self.kind(kind)
        if not isinstance(name, str) or not name:
            raise FastSNNError(f"a {kind} must be named by a non-empty string, got {name!r}")
        if ":" in name:
            dist, _, plain = name.partition(":")
            for spec in self._candidates(kind, plain):
                if spec.distribution == dist:
                    return spec
            raise UnknownComponentError(kind, name, self.names(kind, qualified=True),
                                        f"no {kind} {plain!r} is registered by distribution {dist!r}")
        if (kind, name) in self._clashes:
            raise DuplicateComponentError(self._clash_message(kind, name))
        try:
            return self._specs.get(kind, {})[name]
        except KeyError:
            provider = self.kinds[kind].providers.get(name)
            hint = self._provider_hint(provider, f"{kind} {name!r}") if provider else None
            raise UnknownComponentError(kind, name, self.names(kind), hint) from None

    def _candidates(self, kind: str, name: str) -> list[ComponentSpec]:
        if (kind, name) in self._clashes:
            return list(self._clashes[(kind, name)])
        spec = self._specs.get(kind, {}).get(name)
        return [spec] if spec is not None else []

    def _clash_message(self, kind: str, name: str) -> str:
        specs = self._clashes[(kind, name)]
        owners = " and ".join(f"{s.distribution} (plugin {s.plugin!r})" for s in specs)
        choices = " or ".join(repr(s.qualified_name) for s in specs)
        return (
            f"{kind} {name!r} is registered by more than one distribution: {owners}. Choose one by its "
            f"qualified name ({choices}), or load only one of them with FASTSNN_LOAD_PLUGINS, or uninstall one"
        )

    def _provider_hint(self, provider: str, what: str) -> str:
        status = self.distribution_status.get(provider)
        if status is not None and status.startswith("broken"):
            return f"{what} is provided by {provider}, which is installed but failed to load ({status[len('broken: '):]})"
        if status == "not loaded":
            return (f"{what} is provided by {provider}, which is installed but not loaded: "
                    "add it to FASTSNN_LOAD_PLUGINS or unset that variable")
        if status is None and _installed(provider):
            return (f"{what} is provided by {provider}, which is installed but was not loaded here "
                    "(a controlled plugin set, e.g. fastsnn.testing.use_plugins)")
        return f"{what} is provided by {provider}: pip install {provider}"

    def clashes(self) -> dict[tuple[str, str], list[str]]:
        """``(kind, name) → [distribution, ...]`` for every name two distributions registered."""
        return {key: [s.distribution for s in specs] for key, specs in self._clashes.items()}

    def names(self, kind: str, *, qualified: bool = False) -> list[str]:
        """Sorted names registered for ``kind`` (clashing names appear qualified)."""
        plain = set(self._specs.get(kind, {}))
        clashing = {s.qualified_name for (k, _), specs in self._clashes.items() if k == kind for s in specs}
        if qualified:
            plain = {s.qualified_name for s in self._specs.get(kind, {}).values()}
        return sorted(plain | clashing)

    def specs(self, kind: str | None = None) -> list[ComponentSpec]:
        """All specs (clashing ones included), optionally of one kind, sorted by kind then name."""
        kinds = [self.kind(kind).name] if kind is not None else list(self.kinds)
        out = []
        for k in kinds:
            specs = list(self._specs.get(k, {}).values())
            specs += [s for (ck, _), clash in self._clashes.items() if ck == k for s in clash]
            out += sorted(specs, key=lambda s: (s.name, s.distribution))
        return out

    # -- building ---------------------------------------------------------------------------
    def ref_parts(self, kind: str, ref: Any) -> tuple[str, dict[str, Any]] | None:
        """``(name, params)`` from a name, a ``{"name": ..., **params}`` mapping or a ComponentRef;
        ``None`` when ``ref`` is already a built object.

        :raises FastSNNError: ``None``, a mapping without a string ``name``, or another non-reference.
        """
        if isinstance(ref, str):
            return ref, {}
        if is_component_ref(ref):
            return ref.name, dict(ref.params)
        if isinstance(ref, Mapping):
            name = ref.get("name")
            if not isinstance(name, str):
                raise FastSNNError(f"a {kind} reference needs a 'name' string, e.g. {{name = \"...\"}}; got {dict(ref)!r}")
            return name, {k: v for k, v in ref.items() if k != "name"}
        if ref is None or isinstance(ref, (int, float, bool, list, tuple, bytes)):
            raise FastSNNError(f"a {kind} must be given as a name, a {{name = ..., ...}} table or an object; got {ref!r}")
        return None

    def build_ref(self, kind: str, ref: Any, **context: Any) -> Any:
        """Build from a name, a ``{"name": ..., **params}`` mapping or a ComponentRef; an already
        built object is returned as it is."""
        parts = self.ref_parts(kind, ref)
        if parts is None:
            return ref
        name, params = parts
        return self.create(kind, name, **context, **params)

    def create(self, kind: str, name: str, /, **kwargs: Any) -> Any:
        """Build ``name`` of ``kind``: kwargs are split into builder context and params.

        Context names (the kind's ``context`` and ``optional_context``) go to the factory; context
        that is itself a component (``neuron`` for an FFN) is built first if given by reference.
        Everything else is validated by the component's ``Params`` model (extra fields are an error).

        :raises FastSNNError: unknown name, missing context, bad params, or a failing factory.
        """
        spec = self.get(kind, name)
        kind_info = self.kinds[kind]
        context = {k: v for k, v in kwargs.items() if k in kind_info.all_context and k not in spec.params.model_fields}
        params = {k: v for k, v in kwargs.items() if k not in context}
        missing = [c for c in kind_info.context if c not in context]
        if missing:
            raise FastSNNError(
                f"{kind} {name!r} needs {', '.join(missing)} (supplied by the model builder; pass "
                f"{', '.join(f'{m}=...' for m in missing)} when creating it directly)"
            )
        for arg, arg_kind in kind_info.built_context.items():
            if arg in context:
                context[arg] = self.build_ref(arg_kind, context[arg])
        try:
            validated = spec.validate_params(params)
        except ValidationError as err:
            raise FastSNNError(
                f"bad parameters for {kind} {name!r} (from {spec.distribution}):\n" + format_validation_error(err)
            ) from None
        return spec.build(validated, **context)


def _installed(distribution: str) -> bool:
    try:
        find_distribution(distribution)
    except PackageNotFoundError:
        return False
    return True


def make_spec(
    kind: Kind,
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
    """Check one registration against its kind's contract and turn it into a spec.

    :raises FastSNNError: a bad name, a non-callable factory, a ``Params`` that allows unknown
        fields, or a class that does not implement its kind's contract (naming what is missing).
    """
    where = f"{kind.name} {name!r}"
    if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
        raise FastSNNError(f"{kind.name} name must be an identifier-like string, got {name!r}")
    if not callable(factory):
        raise FastSNNError(f"{where}: factory must be a class or callable, got {type(factory).__name__}")
    if params is None:
        params = getattr(factory, "Params", None) or NoParams
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise FastSNNError(f"{where}: Params must be a pydantic model (subclass fastsnn.Params)")
    if params.model_config.get("extra") != "forbid":
        raise FastSNNError(
            f"{where}: its Params must forbid unknown fields (subclass fastsnn.Params, or set "
            "model_config = ConfigDict(extra='forbid')) so that misspelt parameters are reported"
        )
    reserved = {"params", *kind.all_context} & set(params.model_fields)
    if reserved:
        raise FastSNNError(f"{where}: Params may not declare {', '.join(sorted(reserved))} (the builder supplies it)")
    base = kind.base_class()
    if inspect.isclass(factory) and base is not None:
        if not issubclass(factory, base):
            raise FastSNNError(
                f"{where}: class {factory.__qualname__} must subclass {public_name(base)} "
                f"(the contract of kind {kind.name!r})"
            )
        missing = missing_members(factory, kind)
        if missing:
            raise FastSNNError(
                f"{where}: class {factory.__qualname__} does not implement {', '.join(missing)} "
                f"(required by kind {kind.name!r}: see {public_name(base)})"
            )
    return ComponentSpec(
        kind=kind.name,
        name=name,
        factory=factory,
        params=params,
        description=description or _first_doc_line(factory),
        plugin=plugin,
        distribution=distribution,
        version=version or dist_version,
        contract=kind,
    )
