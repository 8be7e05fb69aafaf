"""SWA's int8 KV cache: what it stores (each value within half a step of the float one), its size,
decoding with it (close to the float ring), and switching a whole model to it with
``fastsnn.quantize.quantize_model(model, kv_cache="int8")``, saved and loaded back."""

from __future__ import annotations

import copy

import pytest
import torch

from fastsnn import FastSNNError
from fastsnn.config import ModelConfig
from fastsnn.model import build_model
from fastsnn.quantize import quantize_model
from fastsnn_attention.layers.swa import Int8SlidingWindowCache, SlidingWindowAttention, SlidingWindowCache

D_MODEL, HEADS, KV_HEADS, WINDOW = 32, 4, 2, 6


def swa_layer():
    torch.manual_seed(0)
    return SlidingWindowAttention(D_MODEL, HEADS, window=WINDOW, n_kv_heads=KV_HEADS).eval()


def decode(layer, x, prefill=5):
    cache = layer.init_cache(x.shape[0])
    with torch.no_grad():
        outs = [layer(x[:, :prefill], cache)] + [layer(x[:, t : t + 1], cache) for t in range(prefill, x.shape[1])]
    return torch.cat(outs, 1), cache


def test_the_int8_ring_holds_each_value_within_half_a_step():
    layer = swa_layer()
    x = torch.randn(2, 15, D_MODEL)
    _, float_cache = decode(layer, x)
    layer.kv_cache_format = "int8"
    _, int8_cache = decode(layer, x)
    assert isinstance(int8_cache, Int8SlidingWindowCache) and int8_cache.ring_k.dtype == torch.int8
    assert int8_cache.scale_k.shape == (2, KV_HEADS, WINDOW, 1)
    for stored, scale, exact in ((int8_cache.ring_k, int8_cache.scale_k, float_cache.ring_k),
                                 (int8_cache.ring_v, int8_cache.scale_v, float_cache.ring_v)):
        error = (stored.float() * scale - exact).abs()
        assert (error <= scale / 2 + 1e-6).all()
        assert stored.abs().amax(-1).eq(127).all()  # each token's largest value uses the full int8 range


def test_the_int8_ring_is_a_quarter_of_fp32_plus_its_scales():
    layer = swa_layer()
    float_bytes = layer.init_cache(3).nbytes()
    layer.kv_cache_format = "int8"
    int8_bytes = layer.init_cache(3).nbytes()
    head_dim = D_MODEL // HEADS
    assert float_bytes == 2 * 3 * KV_HEADS * WINDOW * head_dim * 4
    assert int8_bytes == 2 * 3 * KV_HEADS * WINDOW * (head_dim + 4)


def test_decoding_from_the_int8_ring_stays_close_to_the_float_ring():
    layer = swa_layer()
    x = torch.randn(2, 20, D_MODEL)
    reference, _ = decode(layer, x)
    layer.kv_cache_format = "int8"
    out, cache = decode(layer, x)
    assert cache.seen == 20
    assert float((out - reference).abs().max()) < 0.02 * float(reference.abs().max())
    branch = copy.deepcopy(cache)  # a branch of the decode is independent
    branch.ring_k.zero_()
    assert cache.ring_k.abs().sum() > 0


def model(**overrides):
    values = dict(vocab_size=61, d_model=32, n_layers=4, n_heads=4, d_ff=64, max_seq_len=64, ffn="pulse",
                  neuron="test_round", attention={"name": "hybrid_alt", "swa": {"name": "swa", "window": 5}})
    config = ModelConfig(**{**values, **overrides})
    return build_model(config, seed=0).eval()


def test_quantize_model_switches_every_swa_layer_and_only_those(tmp_path):
    lm = model()
    ids = torch.randint(0, 61, (2, 30), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = lm(ids)
    record = quantize_model(lm, weights=None, kv_cache="int8")
    assert record["kv_cache_layers"] == ["blocks.1.attn", "blocks.3.attn"] and record["modules"] == []
    cache = lm.init_cache(2)
    assert [type(c).__name__ for c in cache.layers] == ["LinearAttentionCache", "Int8SlidingWindowCache"] * 2
    with torch.no_grad():
        lm.prefill(ids[:, :12], cache, chunk_size=4)  # chunks of 4: the later ones read the int8 history
        logits = torch.cat([lm(ids[:, t : t + 1], cache=cache) for t in range(12, 30)], 1)  # positions 12…29
    assert float((logits - reference[:, 12:]).abs().max()) < 0.05 * float(reference.abs().max())
    out = lm.generate(ids[:, :5], max_new_tokens=5, temperature=0)
    assert out.shape == (2, 10)

    folder = lm.save_pretrained(tmp_path / "m")
    from fastsnn import load

    loaded = load(folder)
    assert [b.attn.kv_cache_format for b in loaded.blocks if isinstance(b.attn, SlidingWindowAttention)] == ["int8"] * 2
    assert isinstance(loaded.init_cache(1).layers[1], Int8SlidingWindowCache)


def test_a_model_without_swa_cannot_take_an_int8_cache():
    with pytest.raises(FastSNNError, match=r"no layer of this model can keep an int8 cache \(a layer opts in by "
                                             r"declaring kv_cache_formats, as the swa attention does\)"):
        quantize_model(model(attention="linear"), weights=None, kv_cache="int8")


def test_the_float_ring_is_still_the_default():
    assert isinstance(swa_layer().init_cache(1), SlidingWindowCache)
    assert not isinstance(swa_layer().init_cache(1), Int8SlidingWindowCache)
