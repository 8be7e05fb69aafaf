"""Every test runs with core's built-ins plus exactly this package's plugin."""

import pytest
import torch

import fastsnn_neurons.plugin
from fastsnn.testing import use_plugins


@pytest.fixture(autouse=True)
def _neurons_plugin():
    with use_plugins(fastsnn_neurons.plugin):
        yield


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
