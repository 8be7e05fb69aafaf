"""Converted networks run event-driven (fastsnn_neurons.event_mode) and reproduce count mode.

A SpikingActivation is not a neuron itself: it holds the real neuron as its child ``neuron``, so
event mode finds that neuron by type and replays it; the spike train it emits goes through the
next TemporalLinear step by step.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from fastsnn.convert import convert
from fastsnn.testing import use_plugins
from fastsnn_convert import SpikingActivation
from fastsnn_convert import plugin as convert_plugin

fastsnn_neurons = pytest.importorskip("fastsnn_neurons")
from fastsnn_neurons import event_mode  # noqa: E402
from fastsnn_neurons import plugin as neurons_plugin  # noqa: E402


@pytest.fixture(autouse=True)
def _real_neurons(_plugins):
    with use_plugins(convert_plugin, neurons_plugin):
        yield


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, 24), nn.GELU(), nn.Linear(24, 5)).double()


@pytest.mark.parametrize("coding", ["twos_complement", "bitwise_bidirectional", "ternary"])
def test_a_converted_network_runs_in_event_mode_and_matches_count_mode(coding):
    snn, _ = convert(mlp())  # adaptive_threshold (signed) after each activation
    snn.eval()
    x = torch.randn(3, 7, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        count_mode = snn(x)
        counts_1 = snn[1].spikes(snn[0](x)).counts
        counts_3 = snn[3].spikes(snn[2](snn[1](snn[0](x)))).counts
        with event_mode(snn, coding=coding) as record:
            events = snn(x)
    assert list(record.trains) == ["1.neuron", "3.neuron"], "the neurons inside the SpikingActivations"
    assert torch.equal(record.spikes("1.neuron").counts.to(counts_1.dtype), counts_1)
    assert torch.equal(record.spikes("3.neuron").counts.to(counts_3.dtype), counts_3)
    torch.testing.assert_close(events, count_mode, rtol=1e-9, atol=1e-10)


def test_an_unsigned_neuron_after_relu_runs_with_an_unsigned_coding():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).double()
    snn, _ = convert(model, neuron={"name": "adaptive_threshold", "signed": False})
    x = torch.randn(5, 8, dtype=torch.float64)
    with torch.no_grad():
        count_mode = snn.eval()(x)
        with event_mode(snn, coding="bitwise") as record:
            events = snn(x)
    assert record.spikes("1.neuron").coding.name == "bitwise"
    torch.testing.assert_close(events, count_mode, rtol=1e-9, atol=1e-10)


def test_a_network_converted_through_torch_fx_runs_in_event_mode():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(6, 10), nn.Linear(10, 3)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x)))

    torch.manual_seed(0)
    snn, report = convert(Functional().double())
    assert isinstance(snn.fx_relu, SpikingActivation) and report.not_converted == []
    x = torch.randn(4, 6, dtype=torch.float64)
    with torch.no_grad():
        count_mode = snn.eval()(x)
        with event_mode(snn, coding="twos_complement") as record:
            events = snn(x)
    assert list(record.trains) == ["fx_relu.neuron"]
    torch.testing.assert_close(events, count_mode, rtol=1e-9, atol=1e-10)
