"""Training at seq_len 4096+: the hybrid model trains on windows of 4097 tokens, and activation
checkpointing (recompute each block in backward) gives the same losses."""

from __future__ import annotations

import math

import pytest
import torch

from fastsnn.config import ModelConfig
from fastsnn.model import build_model
from fastsnn.testing import use_plugins
from fastsnn.train.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _plugins(monkeypatch):
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", "fastsnn-neurons,fastsnn-attention")
    with use_plugins(entry_points=True):
        yield


def train(checkpointing: bool) -> list[float]:
    model = build_model(ModelConfig(vocab_size=256, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_seq_len=4096,
                                    attention="hybrid_alt"), seed=0)
    trainer = Trainer(model, TrainConfig(max_steps=2, batch_size=1, seq_len=4097, lr=1e-3,
                                         activation_checkpointing=checkpointing), callbacks=[])
    g = torch.Generator().manual_seed(0)
    return [r["loss"] for r in trainer.fit([torch.randint(0, 256, (1, 4097), generator=g) for _ in range(2)])]


def test_seq_len_4097_trains_and_checkpointing_changes_nothing():
    plain, checkpointed = train(False), train(True)
    assert len(plain) == 2 and all(math.isfinite(x) for x in plain)
    assert plain[0] == pytest.approx(math.log(256), abs=0.05)  # an untrained model is near uniform
    assert checkpointed == pytest.approx(plain, rel=1e-6)
