"""Every test runs with core's built-ins plus this plugin only, whatever else is installed."""

import pytest

from fastsnn.testing import use_plugins
from fastsnn_example import plugin


@pytest.fixture(autouse=True)
def _only_this_plugin():
    with use_plugins(plugin) as manager:
        yield manager
