"""Every test runs with a controlled plugin set: core's built-ins, this package, and a tiny
in-test spiking neuron (so model tests do not depend on fastsnn-neurons being installed)."""

from __future__ import annotations

import pytest
import torch

import fastsnn
import fastsnn_attention.plugin
from fastsnn import SpikeTensor, SpikingNeuron
from fastsnn.testing import use_plugins


class RoundingNeuron(SpikingNeuron):
    """Per-token adaptive threshold ``V = mean|x|/3``, counts ``round(x / V)``, straight-through gradient."""

    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        threshold = x.detach().abs().mean(-1, keepdim=True).clamp_min(1e-6) / 3
        scaled = x / threshold
        counts = scaled.detach().round() + (scaled - scaled.detach())  # exact integers, identity gradient
        return SpikeTensor.count(counts, threshold)


class TestNeuronPlugin:
    PLUGIN_API_VERSION = "2.0"

    @fastsnn.hookimpl
    def fastsnn_register_neurons(self, register):
        register("test_round", RoundingNeuron)


@pytest.fixture(autouse=True)
def _plugins():
    torch.manual_seed(0)
    with use_plugins(fastsnn_attention.plugin, ("test_neuron", TestNeuronPlugin())):
        yield


@pytest.fixture(autouse=True)
def _one_thread():
    """The tensors here are tiny: one intra-op thread is faster, and far faster on a busy machine
    (2-thread OpenMP regions stall whenever a thread is descheduled)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
