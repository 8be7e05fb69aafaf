"""Causal softmax attention: SDPA path (with and without cached history) vs the naive reference."""

from __future__ import annotations

import pytest
import torch

from fastsnn_attention.ops.softmax import causal_softmax_attn, naive_softmax_attn
from fastsnn_attention.testing import assert_close, grads, leaf


@pytest.mark.parametrize("prefix_len", [0, 9])
@pytest.mark.parametrize("time", [1, 63])
@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_sdpa_path_matches_naive_values_and_gradients(prefix_len, time, kv_heads):
    q, k, v = leaf(2, 4, time, 60), leaf(2, kv_heads, prefix_len + time, 60), leaf(2, kv_heads, prefix_len + time, 60)
    assert_close(causal_softmax_attn(q, k, v, prefix_len=prefix_len), naive_softmax_attn(q, k, v, prefix_len=prefix_len))
    g_got = grads(lambda: causal_softmax_attn(q, k, v, prefix_len=prefix_len), (q, k, v))
    g_want = grads(lambda: naive_softmax_attn(q, k, v, prefix_len=prefix_len), (q, k, v))
    for x, w in zip(g_got, g_want):
        assert_close(x, w, rtol=1e-3, atol=1e-5)


def test_continuing_with_a_prefix_equals_the_full_sequence():
    q, k, v = torch.randn(1, 2, 30, 16), torch.randn(1, 2, 30, 16), torch.randn(1, 2, 30, 16)
    full = causal_softmax_attn(q, k, v)
    tail = causal_softmax_attn(q[:, :, 12:], k, v, prefix_len=12)
    assert_close(tail, full[:, :, 12:])
