"""Event-driven inference across packages: core's spiking FFN blocks (and the whole spiking LM)
replayed from spike events by fastsnn-neurons give the count-mode outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import fastsnn
import fastsnn_neurons.plugin
from fastsnn.testing import use_plugins
from fastsnn_neurons import collect_stats, event_mode

SIGNED_CODINGS = ["ternary", "bitwise_bidirectional", "twos_complement"]


@pytest.fixture(autouse=True)
def _plugins():
    torch.manual_seed(0)
    with use_plugins(fastsnn_neurons.plugin):
        yield


def _trained(module: nn.Module, x: torch.Tensor, steps: int = 5) -> nn.Module:
    """A few real optimiser steps in count mode (surrogate gradients), so the weights are 'trained'."""
    optimiser = torch.optim.SGD(module.parameters(), lr=0.05)
    target = torch.randn_like(module(x))
    for _ in range(steps):
        optimiser.zero_grad()
        nn.functional.mse_loss(module(x), target).backward()
        optimiser.step()
    return module.eval()


@pytest.mark.parametrize("coding", SIGNED_CODINGS)
def test_pulse_ffn_event_mode_equals_count_mode(coding):
    ffn = fastsnn.create("ffn", "pulse", d_model=24, d_ff=72, neuron="adaptive_threshold", bias=True,
                         activation="none").double()  # signed inputs reach the neuron
    x = torch.randn(3, 11, 24, dtype=torch.float64)  # (B, T, d_model): T is tokens, not spike time
    _trained(ffn, x)
    with torch.no_grad():
        expected = ffn(x)
        counts = ffn.neuron.spikes(ffn.up(x)).counts.long()
        with event_mode(ffn, coding=coding) as record:
            got = ffn(x)
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert torch.equal(record.spikes("neuron").counts, counts)


@pytest.mark.parametrize("coding", ["binary", "bitwise"])
def test_unsigned_pulse_ffn_with_bounded_counts(coding):
    neuron = {"name": "adaptive_threshold", "signed": False, "max_count": 15}
    ffn = fastsnn.create("ffn", "pulse", d_model=16, d_ff=48, neuron=neuron).double().eval()
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    with torch.no_grad():
        expected = ffn(x)
        with event_mode(ffn, coding=coding) as record:
            got = ffn(x)
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert record.spikes("neuron").num_steps <= (15 if coding == "binary" else 4)


def test_spiking_swiglu_ffn_event_mode_equals_count_mode():
    ffn = fastsnn.create("ffn", "swiglu", d_model=16, d_ff=40, neuron="adaptive_threshold").double().eval()
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    with torch.no_grad():
        expected = ffn(x)
        with event_mode(ffn, coding="twos_complement"):
            got = ffn(x)
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_residual_block_reads_the_train_out():
    """norm → FFN → residual, as in the LM block: the residual add reads the FFN's train out."""
    norm = fastsnn.create("norm", "rmsnorm", dim=16)
    ffn = fastsnn.create("ffn", "pulse", d_model=16, d_ff=32, neuron="adaptive_threshold")

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm, self.ffn = norm, ffn

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.ffn(self.norm(x))

    block = Block().double().eval()
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    with torch.no_grad():
        expected = block(x)
        with collect_stats(block, coding="ternary") as stats:
            block(x)
        with event_mode(block, coding="ternary"):
            got = block(x)
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert 0.0 < stats["ffn.neuron"].event_sparsity < 1.0


def test_whole_spiking_lm_in_event_mode():
    fastsnn_attention_plugin = pytest.importorskip("fastsnn_attention.plugin")
    from fastsnn.config.model import ModelConfig
    from fastsnn.model import SpikingLM

    with use_plugins(fastsnn_neurons.plugin, fastsnn_attention_plugin):
        config = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, attention="softmax", max_seq_len=32)
        model = SpikingLM(config).double().eval()
        ids = torch.randint(0, 64, (2, 12))
        with torch.no_grad():
            expected = model(ids)
            with event_mode(model, coding="bitwise_bidirectional") as record:
                got = model(ids)
    assert set(record.trains) == {"blocks.0.ffn.neuron", "blocks.1.ffn.neuron"}
    assert torch.allclose(got, expected, rtol=1e-9, atol=1e-10)
