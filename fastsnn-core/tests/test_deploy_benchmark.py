"""``fastsnn bench deploy`` on a toy model: one row per variant with the measured columns, ratios
against fp32, and its bad settings named."""

from __future__ import annotations

import pytest

import fastsnn
from fastsnn.config import ModelConfig
from fastsnn.data.text import CharTokenizer
from fastsnn.model import build_model
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin

TEXT = "the quick brown fox jumps over the lazy dog. " * 80


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


@pytest.fixture
def saved(tmp_path):
    (tmp_path / "text.txt").write_text(TEXT)
    model = build_model(ModelConfig(vocab_size=32, d_model=16, n_layers=2, n_heads=2, max_seq_len=64,
                                    attention="cummean", neuron={"name": "half", "threshold": 0.01}), seed=0)
    model.save_pretrained(tmp_path / "m", tokenizer=CharTokenizer.from_text(TEXT).to_dict())
    return tmp_path


def run(saved, **settings):
    values = dict(model=str(saved / "m"), data=str(saved / "text.txt"), batch_size=2, seq_len=16, val_batches=2,
                  prefixes=[40, 200], decode_tokens=2, cached_tokens=100, cache_chunk=16, threads=1,
                  variants=["fp32", "bf16", "w8"])
    return fastsnn.create("benchmark", "deploy", **{**values, **settings})(lambda message: None)


def test_one_row_per_variant_with_ratios_against_fp32(saved):
    rows = run(saved)
    assert [r["variant"] for r in rows] == ["fp32", "bf16", "w8"]
    assert set(rows[0]) == {"variant", "val_loss", "cached_loss", "file_bytes", "cache_bytes", "swa_cache_bytes",
                            "decode_ms@40", "decode_ms@200", "threads", "loss_vs_fp32_%", "cached_loss_vs_fp32_%",
                            "file_vs_fp32", "swa_cache_vs_fp32"}
    fp32, bf16, w8 = rows
    assert fp32["loss_vs_fp32_%"] == 0 and fp32["file_vs_fp32"] == 1 and fp32["threads"] == 1
    assert bf16["file_vs_fp32"] < 0.6 and w8["file_vs_fp32"] < 0.45
    assert abs(w8["loss_vs_fp32_%"]) < 5 and all(r["decode_ms@200"] > 0 for r in rows)
    assert fp32["swa_cache_bytes"] == 0  # the toy attention has no SWA ring


def test_the_loss_through_the_cache_equals_the_full_forward_loss(saved):
    import torch

    from fastsnn import load
    from fastsnn.deploy_benchmark import cached_loss

    model = load(saved / "m").double()
    ids = torch.randint(0, 32, (1, 50), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = torch.nn.functional.cross_entropy(model(ids[:, :-1])[0], ids[0, 1:])
    assert abs(cached_loss(model, ids, chunk=7) - float(full)) < 1e-6  # logits are compared in fp32


@pytest.mark.parametrize(("settings", "message"), [
    ({"model": None}, "bench deploy needs the trained model: --set model=PATH"),
    ({"variants": ["fp32", "w4"]}, "unknown variant 'w4'; choose from fp32, bf16, w8, w8_g128, w8_kv8"),
    ({"variants": ["w8_kv8"]}, "no layer of this model can keep an int8 cache"),
    ({"prefixes": [10_000]}, "fewer than the prefix or cached_tokens 10,000"),
])
def test_bad_settings_are_named(saved, settings, message):
    with pytest.raises(fastsnn.FastSNNError, match=message):
        run(saved, **settings)
