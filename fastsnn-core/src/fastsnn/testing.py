"""Helpers for testing plugins and code that uses the registry, with a controlled plugin set.

Example (pytest)::

    import pytest
    from fastsnn.testing import use_plugins
    import my_plugin

    @pytest.fixture(autouse=True)
    def _plugins():
        with use_plugins(my_plugin):
            yield

Inside the block the process-wide registry holds core's built-ins plus exactly the plugins
given (modules or objects with hookimpls, or ``(name, object)`` pairs), whatever is installed.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from fastsnn.plugins import PluginManager, manager_with, set_plugin_manager


@contextmanager
def use_plugins(*plugins: Any, entry_points: bool = False, strict: bool = True) -> Iterator[PluginManager]:
    """Make a fresh manager with built-ins + ``plugins`` the process-wide one for the block.

    With ``strict`` (default) a plugin that fails to load raises at once instead of being
    recorded as broken, so a test sees the real error.
    """
    manager = manager_with(*plugins, entry_points=entry_points)
    if strict:
        broken = [p for p in manager.plugins.values() if p.status != "ok"]
        if broken:
            raise AssertionError("plugins failed to load: " + "; ".join(f"{p.name}: {p.error}" for p in broken))
    previous = set_plugin_manager(manager)
    try:
        yield manager
    finally:
        set_plugin_manager(previous)
