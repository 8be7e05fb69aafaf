"""Finding and loading plugins: entry-point group ``fastsnn``, loaded once, each plugin isolated.

Loading runs in two phases over every plugin source (core's built-ins first, then the installed
entry points, then any given in-process):

1. import each plugin (a failure of any kind — an exception or ``sys.exit()`` — marks that plugin
   broken and nothing else), check its plugin API version, and let it declare kinds
   (``fastsnn_register_kinds``);
2. with the kinds table complete, call each plugin's ``fastsnn_register_*`` hooks. A plugin's
   components are staged and checked against their kind's contract, then committed together:
   a plugin that fails half-way registers nothing.

Environment variables:

- ``FASTSNN_LOAD_PLUGINS=a,b`` loads only those entry points (by entry-point name or
  distribution name); an empty value loads none. Core's built-ins always load.
- ``FASTSNN_STRICT_PLUGINS=1`` turns a broken plugin into a hard :class:`PluginError`.
- ``FASTSNN_TRACE_PLUGINS=1`` prints each hook call and what it registered, to stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from importlib.metadata import version as dist_version_of
from typing import Any, Iterable

import pluggy

from fastsnn import hookspecs
from fastsnn.errors import FastSNNError, PluginError
from fastsnn.kind_table import Kind
from fastsnn.registry import ComponentSpec, Registry, make_spec

#: The plugin API this core provides. Plugins declare ``PLUGIN_API_VERSION = "2.x"``.
#: 2.0: components receive validated ``params=`` (each parameter declared once, in ``Params``);
#: contracts checked at registration; attention layers implement ``mix``; kinds declared by plugins.
PLUGIN_API_VERSION = "2.0"
ENTRY_POINT_GROUP = "fastsnn"
CORE_DISTRIBUTION = "fastsnn-core"
BUILTIN_MODULE = "fastsnn.builtins.plugin"
COMMANDS_HOOK = "fastsnn_register_commands"
KINDS_HOOK = "fastsnn_register_kinds"


@dataclass
class PluginInfo:
    """What ``fastsnn plugins`` reports about one plugin."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    builtin: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "hooks": self.hooks,
            "components": self.components,
            "kinds": self.kinds,
            "status": self.status,
            "error": self.error,
            "warnings": self.warnings,
            "builtin": self.builtin,
        }


@dataclass
class PluginSource:
    """A plugin to load: a name, where it comes from, and how to get the module."""

    name: str
    distribution: str
    version: str
    load: Any  # () -> module or object with hookimpls
    builtin: bool = False


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _trace(msg: str) -> None:
    if _env_flag("FASTSNN_TRACE_PLUGINS"):
        print(f"[fastsnn plugins] {msg}", file=sys.stderr)


def _core_version() -> str:
    try:
        return dist_version_of(CORE_DISTRIBUTION)
    except Exception:  # running from a source tree
        return "0+unknown"


def builtin_sources() -> list[PluginSource]:
    """Core's own default plugin, loaded by module path like any other plugin."""
    return [PluginSource("fastsnn.builtins", CORE_DISTRIBUTION, _core_version(),
                         lambda: importlib.import_module(BUILTIN_MODULE), builtin=True)]


def entry_point_sources(skipped: dict[str, str] | None = None) -> list[PluginSource]:
    """Installed plugins from the ``fastsnn`` entry-point group, filtered by FASTSNN_LOAD_PLUGINS.

    ``skipped`` (if given) receives ``distribution → "not loaded"`` for those filtered out.
    """
    wanted_raw = os.environ.get("FASTSNN_LOAD_PLUGINS")
    wanted = None if wanted_raw is None else {w.strip() for w in wanted_raw.split(",") if w.strip()}
    sources = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "unknown"
        dist_ver = dist.version if dist is not None else "unknown"
        if wanted is not None and ep.name not in wanted and dist_name not in wanted:
            _trace(f"skipping {ep.name} ({dist_name}): not in FASTSNN_LOAD_PLUGINS")
            if skipped is not None:
                skipped[dist_name] = "not loaded"
            continue
        sources.append(PluginSource(ep.name, dist_name, dist_ver, ep.load))
    return sources


def _check_api_version(plugin: Any, name: str) -> None:
    declared = getattr(plugin, "PLUGIN_API_VERSION", None)
    if declared is None:
        return
    ours = PLUGIN_API_VERSION.split(".")[0]
    theirs = str(declared).split(".")[0]
    if theirs != ours:
        raise PluginError(
            f"plugin {name!r} was written for fastsnn plugin API {declared}, but this fastsnn-core "
            f"provides {PLUGIN_API_VERSION}; install a version of the plugin made for API {ours}.x"
        )


def _describe(err: BaseException) -> str:
    if isinstance(err, SystemExit):
        return f"SystemExit: the plugin called sys.exit({err.code!r}) while loading"
    return f"{type(err).__name__}: {err}"


class PluginManager:
    """Loads plugin sources into a pluggy manager and a :class:`Registry`, one plugin isolated from the next."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("fastsnn")
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}
        self._objects: dict[str, Any] = {}

    # -- loading ---------------------------------------------------------------------------
    def load(self, sources: Iterable[PluginSource]) -> None:
        """Load ``sources`` in the two phases described in the module docstring."""
        loaded = [key for key in (self._import_one(source) for source in sources) if key is not None]
        for key in loaded:
            self._register_components(key)
        for info in self.plugins.values():
            self.registry.distribution_status.setdefault(info.distribution, "ok")
            if info.status != "ok":
                self.registry.distribution_status[info.distribution] = f"broken: {info.error}"
        for (kind, name), dists in self.registry.clashes().items():
            for info in self.plugins.values():
                if info.distribution in dists and info.status == "ok":
                    message = (f"{kind} {name!r} is also registered by "
                               f"{', '.join(d for d in dists if d != info.distribution)}; "
                               f"use {info.distribution}:{name} to pick this one")
                    if message not in info.warnings:
                        info.warnings.append(message)

    def load_one(self, source: PluginSource) -> PluginInfo:
        """Load a single plugin (both phases)."""
        self.load([source])
        return next(i for i in reversed(self.plugins.values()) if i.name in (source.name, f"{source.distribution}:{source.name}"))

    def _key_for(self, source: PluginSource) -> str:
        if source.name not in self.plugins:
            return source.name
        other = self.plugins[source.name]
        message = (f"entry point name {source.name!r} is used by both {other.distribution} and "
                   f"{source.distribution}; both are loaded, as {other.distribution}:{source.name} and "
                   f"{source.distribution}:{source.name}")
        other.warnings.append(message)
        return f"{source.distribution}:{source.name}"

    def _fail(self, info: PluginInfo, err: BaseException, builtin: bool) -> None:
        obj = self._objects.pop(info.name, None)
        if obj is not None and self.pm.is_registered(obj):
            self.pm.unregister(obj)
        info.status = "broken"
        info.error = _describe(err)
        info.components = []
        _trace(f"plugin {info.name} ({info.distribution}) is broken: {info.error}")
        if _env_flag("FASTSNN_STRICT_PLUGINS") or builtin:
            raise PluginError(
                f"plugin {info.name!r} from distribution {info.distribution} failed to load: {info.error}"
            ) from (err if isinstance(err, Exception) else None)

    def _import_one(self, source: PluginSource) -> str | None:
        """Phase 1: import, version check, pluggy registration, kinds. Returns the plugin's key."""
        key = self._key_for(source)
        info = PluginInfo(name=key, distribution=source.distribution, version=source.version, module="?",
                          builtin=source.builtin)
        self.plugins[key] = info
        try:
            obj = source.load()
            info.module = getattr(obj, "__name__", type(obj).__name__)
            _check_api_version(obj, key)
            try:
                self.pm.register(obj, name=key)
            except (pluggy.PluginValidationError, ValueError) as err:
                raise PluginError(f"plugin {key!r} cannot be registered: {err}") from err
            self._objects[key] = obj
            for kind in self._call_kinds_hook(obj, info):
                self._declare_kind(kind)
                info.kinds.append(kind.name)
        except (Exception, SystemExit) as err:
            self._fail(info, err, source.builtin)
            return None
        return key

    def _call_kinds_hook(self, obj: Any, info: PluginInfo) -> list[Kind]:
        declared: list[Kind] = []

        def register(name: str, **fields: Any) -> None:
            fields.setdefault("declared_by", info.distribution)
            try:
                declared.append(Kind(name=name, **fields))
            except TypeError as err:
                raise PluginError(f"plugin {info.name!r} declares kind {name!r} with bad fields: {err}") from None

        for impl in self.pm.hook.fastsnn_register_kinds.get_hookimpls():
            if impl.plugin is obj:
                impl.function(register=register)
        return declared

    def _declare_kind(self, kind: Kind) -> None:
        self.registry.add_kind(kind)
        if hasattr(hookspecs, kind.hook):  # a core hook cannot be re-declared
            raise FastSNNError(f"kind {kind.name!r}: hook {kind.hook} is one of core's hooks")
        try:
            self.pm.add_hookspecs(hookspecs.kind_hookspec(kind.hook, kind.name, kind.description))
        except pluggy.PluginValidationError as err:
            # another (already registered) plugin implements this hook with a wrong signature
            culprit = next((k for k, o in self._objects.items() if o is err.plugin), None)
            if culprit is None:
                raise
            self._fail(self.plugins[culprit], PluginError(f"bad {kind.hook} implementation: {err}"), False)

    def _register_components(self, key: str) -> None:
        """Phase 2: call the plugin's register hooks, check contracts, commit all or nothing."""
        info = self.plugins[key]
        obj = self._objects.get(key)
        if obj is None or info.status != "ok":
            return
        committed: list[ComponentSpec] = []
        try:
            hook_names = sorted(hc.name for hc in self.pm.get_hookcallers(obj) or [])
            unknown = [name for name in hook_names if self._kind_for_hook(name) is None
                       and name not in (COMMANDS_HOOK, KINDS_HOOK)]
            if unknown:
                known = sorted({k.hook for k in self.registry.kinds.values()} | {COMMANDS_HOOK, KINDS_HOOK})
                raise PluginError(f"plugin {key!r} implements unknown hook(s) {', '.join(unknown)}; "
                                  f"known hooks: {', '.join(known)}")
            info.hooks = hook_names
            staged: list[ComponentSpec] = []
            for kind in list(self.registry.kinds.values()):
                if kind.hook in hook_names:
                    staged.extend(self._call_register_hook(obj, info, kind))
            for spec in staged:
                self.registry.add(spec)
                committed.append(spec)
            info.components = [f"{s.kind}:{s.name}" for s in staged]
        except (Exception, SystemExit) as err:
            for spec in committed:
                self.registry.remove(spec)
            self._fail(info, err, info.builtin)

    def _kind_for_hook(self, hook: str) -> Kind | None:
        return next((k for k in self.registry.kinds.values() if k.hook == hook), None)

    def _call_register_hook(self, obj: Any, info: PluginInfo, kind: Kind) -> list[ComponentSpec]:
        staged: list[ComponentSpec] = []

        def register(name: str, factory: Any, *, params: Any = None, description: str | None = None,
                     version: str | None = None) -> None:
            try:
                spec = make_spec(
                    kind, name, factory, params=params, description=description, version=version,
                    plugin=info.name, distribution=info.distribution, dist_version=info.version,
                )
            except FastSNNError as err:
                raise PluginError(f"plugin {info.name!r} ({info.distribution}): {err}") from None
            staged.append(spec)

        for impl in getattr(self.pm.hook, kind.hook).get_hookimpls():
            if impl.plugin is obj:
                impl.function(register=register)
        _trace(f"{kind.hook} from {info.name}: registered {[s.name for s in staged]}")
        return staged

    # -- CLI ---------------------------------------------------------------------------------
    def register_commands(self, cli: Any) -> None:
        """Let each loaded plugin add CLI commands; a failing plugin is recorded, not fatal."""
        for impl in self.pm.hook.fastsnn_register_commands.get_hookimpls():
            name = self.pm.get_name(impl.plugin) or "?"
            try:
                impl.function(cli=cli)
                _trace(f"fastsnn_register_commands from {name}")
            except (Exception, SystemExit) as err:
                info = self.plugins.get(name)
                if info is not None:
                    info.status, info.error = "broken", _describe(err)
                if _env_flag("FASTSNN_STRICT_PLUGINS"):
                    raise PluginError(f"plugin {name!r} failed to add CLI commands: {_describe(err)}") from None


_lock = threading.Lock()
_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager; entry points are loaded on first use, once."""
    global _manager
    with _lock:
        if _manager is None:
            manager = PluginManager()
            skipped: dict[str, str] = {}
            manager.load(builtin_sources() + entry_point_sources(skipped))
            for dist, status in skipped.items():
                manager.registry.distribution_status.setdefault(dist, status)
            _manager = manager
        return _manager


def get_registry() -> Registry:
    """The process-wide registry (loads plugins on first use)."""
    return get_plugin_manager().registry


def set_plugin_manager(manager: PluginManager | None) -> PluginManager | None:
    """Swap the process-wide manager (tests use this); returns the previous one."""
    global _manager
    with _lock:
        previous, _manager = _manager, manager
        return previous


def manager_with(*plugins: Any, entry_points: bool = False) -> PluginManager:
    """A fresh manager with core's built-ins plus the given plugin objects (for tests).

    Each plugin may be a module/object with hookimpls or a ``(name, object)`` pair.
    """
    manager = PluginManager()
    sources = builtin_sources() + (entry_point_sources() if entry_points else [])
    for plugin in plugins:
        name, obj = plugin if isinstance(plugin, tuple) else (getattr(plugin, "__name__", repr(plugin)), plugin)
        sources.append(PluginSource(name, "(in-process)", "0", lambda obj=obj: obj))
    manager.load(sources)
    return manager
