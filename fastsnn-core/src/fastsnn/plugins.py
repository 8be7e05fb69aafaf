"""Finding and loading plugins: entry-point group ``fastsnn``, loaded once, each plugin isolated.

Environment variables:

- ``FASTSNN_LOAD_PLUGINS=a,b`` loads only those entry points (by entry-point name or
  distribution name); an empty value loads none. Core's built-ins always load.
- ``FASTSNN_STRICT_PLUGINS=1`` turns a broken plugin into a hard :class:`PluginError`.
- ``FASTSNN_TRACE_PLUGINS=1`` prints each hook call and what it registered, to stderr.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from importlib.metadata import version as dist_version_of
from types import ModuleType
from typing import Any, Iterable

import pluggy

from fastsnn import hookspecs
from fastsnn.errors import FastSNNError, PluginError
from fastsnn.registry import KIND_HOOKS, ComponentSpec, Registry, make_spec

#: The plugin API this core provides. Plugins declare ``PLUGIN_API_VERSION = "1.x"``.
PLUGIN_API_VERSION = "1.0"
ENTRY_POINT_GROUP = "fastsnn"
CORE_DISTRIBUTION = "fastsnn-core"


@dataclass
class PluginInfo:
    """What ``fastsnn plugins`` reports about one plugin."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None
    builtin: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "hooks": self.hooks,
            "components": self.components,
            "status": self.status,
            "error": self.error,
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
    """Core's own default plugins, registered through the very same hooks."""

    def load() -> ModuleType:
        from fastsnn.builtins import plugin

        return plugin

    return [PluginSource("fastsnn.builtins", CORE_DISTRIBUTION, _core_version(), load, builtin=True)]


def entry_point_sources() -> list[PluginSource]:
    """Installed plugins from the ``fastsnn`` entry-point group, filtered by FASTSNN_LOAD_PLUGINS."""
    wanted_raw = os.environ.get("FASTSNN_LOAD_PLUGINS")
    wanted = None if wanted_raw is None else {w.strip() for w in wanted_raw.split(",") if w.strip()}
    sources = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "unknown"
        dist_ver = dist.version if dist is not None else "unknown"
        if wanted is not None and ep.name not in wanted and dist_name not in wanted:
            _trace(f"skipping {ep.name} ({dist_name}): not in FASTSNN_LOAD_PLUGINS")
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


class PluginManager:
    """Loads plugin sources into a pluggy manager and a :class:`Registry`, one plugin at a time."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("fastsnn")
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}
        self._objects: dict[str, Any] = {}

    # -- loading ---------------------------------------------------------------------------
    def load(self, sources: Iterable[PluginSource]) -> None:
        for source in sources:
            self.load_one(source)

    def load_one(self, source: PluginSource) -> PluginInfo:
        """Import and register one plugin; on any failure record it as broken and roll back."""
        info = PluginInfo(
            name=source.name,
            distribution=source.distribution,
            version=source.version,
            module="?",
            builtin=source.builtin,
        )
        self.plugins[source.name] = info
        staged: list[ComponentSpec] = []
        registered_obj = None
        try:
            obj = source.load()
            info.module = getattr(obj, "__name__", type(obj).__name__)
            _check_api_version(obj, source.name)
            try:
                self.pm.register(obj, name=source.name)
            except pluggy.PluginValidationError as err:
                raise PluginError(f"plugin {source.name!r} has an invalid hook implementation: {err}") from err
            registered_obj = obj
            unknown = [hc.name for hc in self.pm.get_hookcallers(obj) or [] if hc.spec is None]
            if unknown:
                raise PluginError(
                    f"plugin {source.name!r} implements unknown hook(s) {', '.join(sorted(unknown))}; "
                    f"known hooks: {', '.join(sorted(KIND_HOOKS.values()))}, fastsnn_register_commands"
                )
            info.hooks = sorted(hc.name for hc in self.pm.get_hookcallers(obj) or [])
            for kind, hook_name in KIND_HOOKS.items():
                if hook_name not in info.hooks:
                    continue
                staged.extend(self._call_register_hook(obj, source, kind, hook_name))
            # Stage first, then commit, so a plugin that fails half-way registers nothing.
            committed: list[ComponentSpec] = []
            try:
                for spec in staged:
                    self.registry.add(spec)
                    committed.append(spec)
            except FastSNNError:
                for spec in committed:
                    del self.registry._specs[spec.kind][spec.name]
                raise
            info.components = [f"{s.kind}:{s.name}" for s in staged]
            self._objects[source.name] = obj
        except Exception as err:
            if registered_obj is not None:
                self.pm.unregister(registered_obj)
            info.status = "broken"
            info.error = f"{type(err).__name__}: {err}"
            info.components = []
            _trace(f"plugin {source.name} ({source.distribution}) is broken: {info.error}")
            if _env_flag("FASTSNN_STRICT_PLUGINS") or source.builtin:
                raise PluginError(
                    f"plugin {source.name!r} from distribution {source.distribution} failed to load: "
                    f"{info.error}"
                ) from err
        return info

    def _call_register_hook(
        self, obj: Any, source: PluginSource, kind: str, hook_name: str
    ) -> list[ComponentSpec]:
        staged: list[ComponentSpec] = []

        def register(name: str, factory: Any, *, params: Any = None, description: str | None = None,
                     version: str | None = None) -> None:
            spec = make_spec(
                kind, name, factory, params=params, description=description, version=version,
                plugin=source.name, distribution=source.distribution, dist_version=source.version,
            )
            staged.append(spec)

        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin is obj:
                impl.function(register=register)
        _trace(f"{hook_name} from {source.name}: registered {[s.name for s in staged]}")
        return staged

    # -- CLI ---------------------------------------------------------------------------------
    def register_commands(self, cli: Any) -> None:
        """Let each loaded plugin add CLI commands; a failing plugin is recorded, not fatal."""
        for impl in self.pm.hook.fastsnn_register_commands.get_hookimpls():
            name = self.pm.get_name(impl.plugin) or "?"
            try:
                impl.function(cli=cli)
                _trace(f"fastsnn_register_commands from {name}")
            except Exception as err:
                info = self.plugins.get(name)
                if info is not None:
                    info.status, info.error = "broken", f"{type(err).__name__}: {err}"
                if _env_flag("FASTSNN_STRICT_PLUGINS"):
                    raise PluginError(f"plugin {name!r} failed to add CLI commands: {err}") from err


_lock = threading.Lock()
_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager; entry points are loaded on first use, once."""
    global _manager
    with _lock:
        if _manager is None:
            manager = PluginManager()
            manager.load(builtin_sources())
            manager.load(entry_point_sources())
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
    manager.load(builtin_sources())
    if entry_points:
        manager.load(entry_point_sources())
    for plugin in plugins:
        name, obj = plugin if isinstance(plugin, tuple) else (getattr(plugin, "__name__", repr(plugin)), plugin)
        manager.load_one(PluginSource(name, "(in-process)", "0", lambda obj=obj: obj))
    return manager
