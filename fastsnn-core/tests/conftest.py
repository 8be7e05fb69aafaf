"""Core tests run with core's built-ins plus the in-test plugins each test asks for."""

import pytest

from fastsnn.testing import use_plugins


@pytest.fixture(autouse=True)
def _builtins_only(monkeypatch):
    for var in ("FASTSNN_STRICT_PLUGINS", "FASTSNN_LOAD_PLUGINS", "FASTSNN_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    with use_plugins() as manager:
        yield manager
