"""Causal sliding-window attention computed block by block, without any ``T×T`` mask.

Query ``t`` attends to keys ``s`` with ``t − W < s ≤ t`` (``W`` keys including itself). Queries
are cut into blocks of ``Bq`` tokens; block ``i`` needs the ``L = Bq + W − 1`` keys ending at its
last query, gathered from an overlapping strided view of the (front-padded) keys. Each block is
one batch entry of ``scaled_dot_product_attention`` (fused kernel, fp32 accumulation) with an
``[N, 1, Bq, L]`` boolean mask (band ∧ real history): memory O(T·(Bq + W)) at most, never
``T × T``.

Keys may start before the queries (``prefix_len`` cached tokens, for continuing a sequence).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from fastsnn.errors import FastSNNError
from fastsnn_attention.ops.groups import check_qkv


def default_block_size(window: int) -> int:
    """Queries per block: ``max(64, W // 4)``.

    Each query block computes ``Bq + W − 1`` scores per query for ``W`` useful ones, so small
    blocks waste less work, but very small ones run as many tiny kernels and copy the keys
    ``(Bq + W − 1) / Bq`` times. On CPU (fp32, H=8, D=64) 64 was fastest for W ≤ 256 and within
    ~10% for larger W, where W/4 keeps the key copies at ≤ 5× the keys.
    """
    return max(64, window // 4)


def blockwise_swa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    *,
    scale: float | None = None,
    block_size: int | None = None,
    prefix_len: int = 0,
) -> torch.Tensor:
    """Sliding-window causal softmax attention.

    :param q: ``[B, Hq, T, D]`` queries (RoPE already applied).
    :param k: ``[B, Hkv, P + T, D]`` keys: ``P = prefix_len`` earlier tokens, then the ``T`` new ones.
    :param v: ``[B, Hkv, P + T, Dv]`` values, aligned with ``k``.
    :param window: ``W ≥ 1``, keys per query including itself.
    :param scale: score scale (default ``D ** -0.5``).
    :param block_size: queries per block (default :func:`default_block_size`, at most ``T``).
    :param prefix_len: ``P``; prefix keys older than ``W − 1`` tokens are ignored.
    :returns: ``[B, Hq, T, Dv]`` in ``q``'s dtype.
    """
    _, groups = check_qkv(q, k, v, what="blockwise_swa")
    if window <= 0:
        raise FastSNNError(f"blockwise_swa: window must be positive, got {window}")
    batch, _, time, head_dim = q.shape
    if k.shape[2] != prefix_len + time:
        raise FastSNNError(
            f"blockwise_swa: expected {prefix_len} prefix + {time} new keys, got {k.shape[2]} keys"
        )
    scale = head_dim**-0.5 if scale is None else scale
    block = max(1, min(block_size or default_block_size(window), time))
    n_blocks = -(-time // block)
    span = block + window - 1  # keys seen by one query block
    # Align keys so that index (W − 1 + t) holds position t; missing history is padding.
    keep = min(prefix_len, window - 1)
    front_pad = window - 1 - keep
    back_pad = n_blocks * block - time

    def aligned(x: torch.Tensor) -> torch.Tensor:  # [B, Hkv, P+T, D] → [B, Hkv, W−1+N·Bq, D]
        return F.pad(x[:, :, prefix_len - keep :], (0, 0, front_pad, back_pad))

    def blocks(x: torch.Tensor) -> torch.Tensor:  # [B, Hkv, P+T, D] → [B·N, Hq, L, D]
        x = aligned(x).unfold(2, span, block).transpose(-1, -2)  # (B, Hkv, N, L, D), overlapping view
        x = x.repeat_interleave(groups, dim=1) if groups > 1 else x
        return x.transpose(1, 2).reshape(batch * n_blocks, -1, span, x.shape[-1])

    q_blocks = F.pad(q, (0, 0, 0, back_pad)).view(batch, -1, n_blocks, block, head_dim)  # (B, Hq, N, Bq, D)
    q_blocks = q_blocks.transpose(1, 2).reshape(batch * n_blocks, -1, block, head_dim)  # (B·N, Hq, Bq, D)
    query_pos = torch.arange(block, device=q.device)
    key_pos = torch.arange(span, device=q.device)
    in_band = (key_pos[None, :] >= query_pos[:, None]) & (key_pos[None, :] < query_pos[:, None] + window)  # (Bq, L)
    absolute = torch.arange(n_blocks, device=q.device)[:, None] * block + key_pos[None, :]  # (N, L)
    allowed = in_band[None] & (absolute >= front_pad)[:, None, :]  # (N, Bq, L); padded history masked
    allowed = allowed.unsqueeze(1).repeat(batch, 1, 1, 1)  # (B·N, 1, Bq, L), broadcast over heads
    out = F.scaled_dot_product_attention(q_blocks, blocks(k), blocks(v), attn_mask=allowed, scale=scale)
    out = out.view(batch, n_blocks, -1, block, out.shape[-1]).transpose(1, 2)  # (B, Hq, N, Bq, Dv)
    return out.reshape(batch, -1, n_blocks * block, out.shape[-1])[:, :, :time]
