"""Gated linear attention kernels: chunked (log-space gates, sub-chunk factorisation) vs references."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from fastsnn import FastSNNError
from fastsnn_attention.ops.gla import (
    MIN_LOG_DECAY,
    chunk_gla,
    naive_parallel_gla,
    naive_recurrent_gla,
    recurrent_gla,
)
from fastsnn_attention.testing import assert_close, grads, leaf

B, T, D, DV = 2, 63, 60, 36


def inputs(time: int = T, heads: int = 4, kv_heads: int = 2, strong_decay: bool = False,
           dtype: torch.dtype = torch.float32):
    q = leaf(B, heads, time, D, positive=True, dtype=dtype)
    k = leaf(B, kv_heads, time, D, positive=True, dtype=dtype)
    v = leaf(B, kv_heads, time, DV, dtype=dtype)
    logits = torch.randn(B, kv_heads, time, D) * 3
    g = F.logsigmoid(logits).clamp_min(MIN_LOG_DECAY)
    if strong_decay:  # the clamp boundary everywhere: largest factorised exponents
        g = torch.full_like(g, MIN_LOG_DECAY)
    return q, k, v, g.to(dtype).requires_grad_(True)


@pytest.mark.parametrize("chunk_size", [16, 32, 64])
@pytest.mark.parametrize("strong_decay", [False, True])
def test_chunked_matches_naive_forms_values_and_gradients(chunk_size, strong_decay):
    q, k, v, g = inputs(strong_decay=strong_decay)
    parallel = naive_parallel_gla(q, k, v, g)
    recurrent, _ = naive_recurrent_gla(q, k, v, g)
    chunked, _ = chunk_gla(q, k, v, g, chunk_size=chunk_size)
    assert_close(recurrent, parallel)
    assert_close(chunked, parallel)
    want = grads(lambda: naive_parallel_gla(q, k, v, g), (q, k, v, g))
    got = grads(lambda: chunk_gla(q, k, v, g, chunk_size=chunk_size)[0], (q, k, v, g))
    for x, w in zip(got, want):
        assert torch.isfinite(x).all()
        assert_close(x, w, rtol=1e-3, atol=1e-4)


def test_recurrent_kernel_matches_naive_values_gradients_and_state():
    q, k, v, g = inputs(time=40)
    want, want_state = naive_recurrent_gla(q, k, v, g)
    got, state = recurrent_gla(q, k, v, g)
    assert_close(got, want)
    assert_close(state, want_state)
    g_want = grads(lambda: naive_recurrent_gla(q, k, v, g)[0], (q, k, v, g))
    g_got = grads(lambda: recurrent_gla(q, k, v, g)[0], (q, k, v, g))
    for x, w in zip(g_got, g_want):
        assert_close(x, w, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("split", [1, 16, 45])
def test_split_sequence_resumes_from_carried_state(split):
    q, k, v, g = inputs()
    full, full_state = chunk_gla(q, k, v, g, chunk_size=32, output_final_state=True)
    first, state = chunk_gla(q[:, :, :split], k[:, :, :split], v[:, :, :split], g[:, :, :split], chunk_size=16,
                             output_final_state=True)
    second, end_state = chunk_gla(q[:, :, split:], k[:, :, split:], v[:, :, split:], g[:, :, split:],
                                  initial_state=state, output_final_state=True)
    assert_close(torch.cat([first, second], dim=2), full)
    assert_close(end_state, full_state)
    step, _ = recurrent_gla(q[:, :, split:split + 1], k[:, :, split:split + 1], v[:, :, split:split + 1],
                            g[:, :, split:split + 1], initial_state=state)
    assert_close(step, full[:, :, split:split + 1])


def test_gates_below_the_clamp_are_clamped_in_every_form():
    q, k, v, _ = inputs(time=20)
    very_negative = torch.full((B, 2, 20, D), -40.0)
    chunked, _ = chunk_gla(q, k, v, very_negative)
    recurrent, _ = recurrent_gla(q, k, v, very_negative)
    assert torch.isfinite(chunked).all()
    assert_close(chunked, recurrent)
    assert_close(chunked, naive_parallel_gla(q, k, v, torch.full_like(very_negative, MIN_LOG_DECAY)))


def test_bf16_inputs_keep_fp32_state():
    q, k, v, g = inputs(dtype=torch.bfloat16)
    out, state = chunk_gla(q, k, v, g, output_final_state=True)
    assert out.dtype == torch.bfloat16 and state.dtype == torch.float32
    want = naive_parallel_gla(q.float(), k.float(), v.float(), g.float())
    assert_close(out, want, rtol=2e-2, atol=2e-2)


def test_bad_inputs_are_reported():
    q, k, v, g = inputs(time=10)
    with pytest.raises(FastSNNError, match="chunk_size must be <= 16 or a multiple of it"):
        chunk_gla(q, k, v, g, chunk_size=24)
    with pytest.raises(FastSNNError, match="g must have k's shape"):
        chunk_gla(q, k, v, g[..., :5])
    with pytest.raises(FastSNNError, match="g must have k's shape"):
        recurrent_gla(q, k, v, g[..., :5])
