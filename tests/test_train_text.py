"""Training a real hybrid spiking LM on real text (tiny Shakespeare), with the first-party packages.

The text lives in the shared folder beside the repository (``../shared/data/tinyshakespeare.txt``);
the product never reads that path, only these tests do.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fastsnn.builder.config import SNNConfig
from fastsnn.builder.model_from_config import build_model_from_config
from fastsnn.data import TextDataset
from fastsnn.testing import use_plugins
from fastsnn.train.trainer import TrainConfig, Trainer

TEXT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
SPLIT_OFFSET = 1_003_854  # the first 90% is the training split (see shared/data/README.md)


@pytest.fixture(scope="module")
def shakespeare() -> TextDataset:
    if not TEXT.is_file():
        pytest.skip(f"{TEXT} is not here (it lives in the shared folder beside the repository)")
    return TextDataset.from_file(TEXT, tokenizer="char", val_fraction=0.1)


@pytest.fixture(autouse=True)
def _first_party_plugins(monkeypatch):
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", "fastsnn-neurons,fastsnn-attention")
    with use_plugins(entry_points=True):
        yield


def small_lm(vocab_size: int):
    torch.manual_seed(0)
    cfg = SNNConfig(vocab_size=vocab_size, d_model=64, n_heads=4, n_layers=2, d_ff=128,
                    attn_kind={"name": "hybrid_alt", "swa": {"name": "swa", "window": 32}}, max_seq_len=128)
    return build_model_from_config(cfg)


def test_dataset_splits_tiny_shakespeare_as_documented(shakespeare):
    raw = TEXT.read_text(encoding="utf-8")
    assert len(shakespeare.train) == SPLIT_OFFSET and len(shakespeare.val) == len(raw) - SPLIT_OFFSET
    assert shakespeare.tokenizer.vocab_size == 65
    assert shakespeare.tokenizer.decode(shakespeare.val) == raw[SPLIT_OFFSET:]
    assert shakespeare.tokenizer.decode(shakespeare.train[:27]) == "First Citizen:\nBefore we pr"
    as_bytes = TextDataset.from_file(TEXT, tokenizer="byte")
    assert len(as_bytes.train) == SPLIT_OFFSET  # plain ASCII: bytes and characters coincide


def test_training_on_real_text_lowers_the_validation_loss(shakespeare):
    model = small_lm(shakespeare.tokenizer.vocab_size)
    trainer = Trainer(model, TrainConfig(max_steps=60, lr=1e-2, warmup_steps=5, log_every=20), callbacks=[])
    val = list(shakespeare.sequential_windows("val", batch_size=16, seq_len=65))[:4]
    before = trainer.evaluate(val)
    history = trainer.fit(shakespeare.random_windows("train", batch_size=16, seq_len=65, seed=0))
    after = trainer.evaluate(val)
    assert before["loss"] == pytest.approx(torch.log(torch.tensor(65.0)).item(), abs=0.3)  # ~uniform at init
    assert after["loss"] < 3.1 and after["loss"] < before["loss"] - 1.0
    assert after["perplexity"] < before["perplexity"] / 2.5
    assert len(history) == 60


def test_resuming_a_real_model_reproduces_the_uninterrupted_losses(shakespeare, tmp_path):
    config = dict(max_steps=6, lr=1e-2, warmup_steps=2, log_every=100)
    full = Trainer(small_lm(65), TrainConfig(**config, checkpoint_dir=tmp_path, checkpoint_every=3), callbacks=[])
    full_history = full.fit(shakespeare.random_windows("train", batch_size=4, seq_len=33, seed=1))
    resumed = Trainer(small_lm(65), TrainConfig(**config), callbacks=[])
    history = resumed.fit(shakespeare.random_windows("train", batch_size=4, seq_len=33, seed=1),
                          resume_from=tmp_path / "step_00000003")
    assert [h["loss"] for h in history] == [h["loss"] for h in full_history]
