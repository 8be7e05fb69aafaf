"""Projection biases (``qkv_bias``, ``out_bias``: Qwen2, GPT-2) and attention without RoPE
(``rope = false``: models with a learned position table) against a written-out reference."""

from __future__ import annotations

import math

import pytest
import torch

import fastsnn
from fastsnn_attention.testing import assert_close

D_MODEL, HEADS = 24, 4


def reference(attn, x: torch.Tensor, window: int | None = None) -> torch.Tensor:
    """Causal softmax attention (optionally banded to ``window`` keys) with the layer's own projections,
    no rotation, written out: ``softmax(q kᵀ / √D + mask) v`` per head, then ``o_proj``."""
    batch, time, _ = x.shape
    h, d = attn.heads.n_heads, attn.heads.head_dim
    groups = h // attn.heads.n_kv_heads
    q = attn.q_proj(x).view(batch, time, h, d).transpose(1, 2)
    k = attn.k_proj(x).view(batch, time, -1, d).transpose(1, 2).repeat_interleave(groups, 1)
    v = attn.v_proj(x).view(batch, time, -1, d).transpose(1, 2).repeat_interleave(groups, 1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)  # (B, H, T, T)
    i, j = torch.arange(time)[:, None], torch.arange(time)[None, :]
    allowed = (j <= i) if window is None else (j <= i) & (j > i - window)
    o = scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v
    return attn.o_proj(o.transpose(1, 2).flatten(2))


@pytest.mark.parametrize("name, extra", [("softmax", {}), ("swa", {"window": 5}), ("softmax", {"n_kv_heads": 2})])
def test_biases_and_no_rope_match_the_reference_and_decode_equals_prefill(name, extra):
    attn = fastsnn.create("attention", name, d_model=D_MODEL, n_heads=HEADS, max_seq_len=32, qkv_bias=True,
                          out_bias=True, rope=False, **extra).double()
    assert all(getattr(attn, p).bias is not None for p in ("q_proj", "k_proj", "v_proj", "o_proj"))
    with torch.no_grad():
        for p in ("q_proj", "k_proj", "v_proj", "o_proj"):
            getattr(attn, p).bias.normal_()
    x = torch.randn(2, 11, D_MODEL, dtype=torch.float64)
    full = attn(x)
    assert_close(full, reference(attn, x, extra.get("window")), atol=1e-10, rtol=1e-10)
    cache = attn.init_cache(2, dtype=torch.float64)
    stepped = torch.cat([attn(x[:, t : t + 1], cache) for t in range(11)], 1)
    assert_close(stepped, full, atol=1e-10, rtol=1e-10)


def test_the_defaults_have_no_biases_and_rotate():
    attn = fastsnn.create("attention", "swa", d_model=D_MODEL, n_heads=HEADS, window=4)
    assert attn.q_proj.bias is None and attn.o_proj.bias is None and attn.rope is not None
    assert "qkv_bias" not in attn.extra_repr() and "out_bias" not in attn.extra_repr()
    biased = fastsnn.create("attention", "linear", d_model=D_MODEL, n_heads=HEADS, qkv_bias=True)
    assert biased.k_proj.bias is not None and biased.o_proj.bias is None and "qkv_bias=True" in biased.extra_repr()
