"""Sliding-window attention: blockwise (no T×T mask) and ring-buffer decoding vs a dense-mask reference."""

from __future__ import annotations

import pytest
import torch

from fastsnn import FastSNNError
from fastsnn_attention.ops.swa import blockwise_swa, dense_mask_swa, ring_swa_step
from fastsnn_attention.testing import assert_close, grads, leaf

B, T, D = 2, 63, 60


@pytest.mark.parametrize("window", [1, 7, 64])
@pytest.mark.parametrize("block_size", [None, 5, 16])
def test_blockwise_matches_dense_mask_values_and_gradients(window, block_size):
    q, k, v = leaf(B, 4, T, D), leaf(B, 2, T, D), leaf(B, 2, T, 36)
    want = dense_mask_swa(q, k, v, window)
    got = blockwise_swa(q, k, v, window, block_size=block_size)
    assert_close(got, want)
    g_want = grads(lambda: dense_mask_swa(q, k, v, window), (q, k, v))
    g_got = grads(lambda: blockwise_swa(q, k, v, window, block_size=block_size), (q, k, v))
    for x, w in zip(g_got, g_want):
        assert_close(x, w, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("window", [1, 7, 64, 100])
@pytest.mark.parametrize("block_size", [None, 1, 5, 16, 200])
@pytest.mark.parametrize("prefix_len", [0, 3, 70])
def test_inference_path_over_key_window_views_matches_dense_mask(window, block_size, prefix_len):
    """Without autograd the blocks read overlapping views of the keys (no copies) with one shared band
    mask; the first blocks, whose windows reach into the front padding, get their own masks."""
    q = torch.randn(B, 4, T, D)  # 4 query heads on 2 key/value heads: the group shares the windows
    k, v = torch.randn(B, 2, prefix_len + T, D), torch.randn(B, 2, prefix_len + T, 36)
    with torch.no_grad():
        got = blockwise_swa(q, k, v, window, block_size=block_size, prefix_len=prefix_len)
    assert_close(got, dense_mask_swa(q, k, v, window, prefix_len=prefix_len))


@pytest.mark.parametrize("window", [1, 7, 64])
@pytest.mark.parametrize("prefix_len", [3, 6, 100])
def test_blockwise_with_cached_prefix_matches_dense_mask(window, prefix_len):
    q = torch.randn(B, 4, 20, D)
    k, v = torch.randn(B, 4, prefix_len + 20, D), torch.randn(B, 4, prefix_len + 20, D)
    assert_close(blockwise_swa(q, k, v, window, prefix_len=prefix_len),
                 dense_mask_swa(q, k, v, window, prefix_len=prefix_len))


def test_window_covers_exactly_w_keys_including_the_current_token():
    """Moving a key just outside the window changes nothing; just inside, it does."""
    window = 7
    q, k, v = torch.randn(1, 1, 30, 8), torch.randn(1, 1, 30, 8), torch.randn(1, 1, 30, 8)
    base = blockwise_swa(q, k, v, window)
    t = 20
    outside, inside = v.clone(), v.clone()
    outside[:, :, t - window] += 10.0
    inside[:, :, t - window + 1] += 10.0
    assert torch.equal(blockwise_swa(q, k, outside, window)[:, :, t], base[:, :, t])
    assert not torch.allclose(blockwise_swa(q, k, inside, window)[:, :, t], base[:, :, t])


@pytest.mark.parametrize("window", [1, 7, 64])
def test_ring_buffer_decoding_matches_blockwise(window):
    q, k, v = torch.randn(B, 4, T, D), torch.randn(B, 2, T, D), torch.randn(B, 2, T, D)
    ring_k, ring_v = torch.zeros(B, 2, window, D), torch.zeros(B, 2, window, D)
    steps = []
    for t in range(T):
        ring_k[:, :, t % window], ring_v[:, :, t % window] = k[:, :, t], v[:, :, t]
        steps.append(ring_swa_step(q[:, :, t : t + 1], ring_k, ring_v, min(t + 1, window)))
    assert_close(torch.cat(steps, dim=2), blockwise_swa(q, k, v, window))


def test_bf16_inputs():
    q, k, v = (torch.randn(B, 4, T, D, dtype=torch.bfloat16) for _ in range(3))
    out = blockwise_swa(q, k, v, 7)
    assert out.dtype == torch.bfloat16
    assert_close(out, dense_mask_swa(q.float(), k.float(), v.float(), 7), rtol=3e-2, atol=3e-2)


def test_bad_inputs_are_reported():
    q, k, v = torch.randn(1, 2, 10, 8), torch.randn(1, 2, 10, 8), torch.randn(1, 2, 10, 8)
    with pytest.raises(FastSNNError, match="window must be positive, got 0"):
        blockwise_swa(q, k, v, 0)
    with pytest.raises(FastSNNError, match="expected 3 prefix \\+ 10 new keys, got 10 keys"):
        blockwise_swa(q, k, v, 4, prefix_len=3)


@pytest.mark.parametrize("heads, kv_heads, window, n_valid", [(2, 2, 6, 6), (4, 2, 7, 3), (3, 1, 5, 1)])
def test_ring_step_reductions_match_sdpa_values_and_gradients(heads, kv_heads, window, n_valid):
    # the explicit-reduction form a compiled decode step runs, against the SDPA call of the eager step
    from fastsnn_attention.ops.swa.recurrent import _ring_attention_reductions

    q, k, v = leaf(2, kv_heads, heads // kv_heads, 8), leaf(2, kv_heads, window, 8), leaf(2, kv_heads, window, 5)
    filled = (torch.arange(window) < n_valid)[None, :] if n_valid < window else None

    def reference():
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=filled)

    assert_close(_ring_attention_reductions(q, k, v, filled, None), reference())
    got = grads(lambda: _ring_attention_reductions(q, k, v, filled, None), [q, k, v])
    for g, w in zip(got, grads(reference, [q, k, v])):
        assert_close(g, w)
    assert_close(_ring_attention_reductions(q, k, v, filled, 0.3),
                 torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=filled, scale=0.3))
