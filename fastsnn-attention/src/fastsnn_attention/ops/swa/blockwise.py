"""Causal sliding-window attention computed block by block, without any ``T×T`` mask or key copies.

Query ``t`` attends to keys ``s`` with ``t − W < s ≤ t`` (``W`` keys including itself). Queries
are cut into blocks of ``Bq`` tokens; block ``n`` needs the ``L = Bq + W − 1`` keys ending at its
last query. Those windows overlap, and they are *views*: the keys are front-padded once so that
index ``W − 1 + t`` holds position ``t``, and ``unfold`` reads block ``n``'s window at offset
``n·Bq`` — no key or value is copied per block. All blocks go to one
``scaled_dot_product_attention`` call (torch's fused CPU flash kernel, fp32 accumulation) with a
single ``[G·Bq, L]`` band mask shared by every block; only the first few blocks, whose windows
reach into the front padding, get their own masks (a second, small call). The ``G`` query heads
of a key/value head are stacked along the rows of a block, so grouped-query attention shares the
key windows too. Memory O(T·D) beyond the inputs, never ``T × T``.

Under autograd (an input requires grad) the blocks are laid out as ``[B·N, Hq, L, D]`` copies
with ``max(64, W/4)`` queries each instead, where SDPA's backward runs fastest (fwd+bwd at
T=16384, W=512: 0.89 s against 1.19 s over the views); memory O(T·D·(Bq + W)/Bq).

Keys may start before the queries (``prefix_len`` cached tokens, for continuing a sequence).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from fastsnn.errors import FastSNNError
from fastsnn_attention.ops.groups import check_qkv


def default_block_size(window: int, backward: bool = False) -> int:
    """Queries per block: 32 for inference, ``max(64, W // 4)`` when gradients are needed.

    A block computes ``Bq + W − 1`` scores per query for ``W`` useful ones, so small blocks waste
    less; torch's CPU flash kernel works on 32-query tiles below 192 queries anyway. Forward on the
    2-core CPU (fp32, H=8, D=64, W=512, T=16384): 32 took 174 ms, 64 225 ms, 128 242 ms. Its
    backward prefers larger blocks over contiguous key windows (fwd+bwd at T=16384: 0.89 s with
    128-query blocks and copied windows, 1.04 s over views, 2.1 s with 32-query blocks).
    """
    return max(64, window // 4) if backward else 32


def _band(rows: int, span: int, window: int, device: torch.device) -> torch.Tensor:
    """``[rows, span]`` bool: query ``r`` of a block sees window columns ``r … r + W − 1``."""
    r = torch.arange(rows, device=device)[:, None]
    j = torch.arange(span, device=device)[None, :]
    return (j >= r) & (j < r + window)


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
    n_kv_heads, groups = check_qkv(q, k, v, what="blockwise_swa")
    if window <= 0:
        raise FastSNNError(f"blockwise_swa: window must be positive, got {window}")
    batch, _, time, head_dim = q.shape
    if k.shape[2] != prefix_len + time:
        raise FastSNNError(
            f"blockwise_swa: expected {prefix_len} prefix + {time} new keys, got {k.shape[2]} keys"
        )
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        return _blockwise_swa_copied(q, k, v, window, scale, block_size, prefix_len, groups)
    block = max(1, min(block_size or default_block_size(window), time))
    n_blocks = -(-time // block)
    span = block + window - 1  # keys seen by one query block
    keep = min(prefix_len, window - 1)
    front_pad = window - 1 - keep  # aligned index W − 1 + t holds position t
    rows = front_pad + keep + n_blocks * block  # = W − 1 + N·Bq
    heads = batch * n_kv_heads

    def windows(x: torch.Tensor) -> torch.Tensor:  # [B, Hkv, P+T, D] → overlapping view [B·Hkv, N, L, D]
        x = F.pad(x[:, :, prefix_len - keep :], (0, 0, front_pad, rows - front_pad - keep - time))
        return x.reshape(heads, rows, x.shape[-1]).unfold(1, span, block).transpose(-1, -2)  # a view; unfold's
        # backward sums the overlapping windows' gradients in one pass

    # queries as [B·Hkv, N, G·Bq, D]: the G heads of a group stacked along the rows of each block
    q_blocks = F.pad(q, (0, 0, 0, n_blocks * block - time)).view(batch, n_kv_heads, groups, n_blocks, block, head_dim)
    q_blocks = q_blocks.transpose(2, 3).reshape(heads, n_blocks, groups * block, head_dim)
    k_win, v_win = windows(k), windows(v)
    band = _band(block, span, window, q.device).repeat(groups, 1)  # (G·Bq, L)
    # blocks whose window starts in the front padding: the padded keys are masked per block
    padded = min(n_blocks, -(-front_pad // block)) if front_pad else 0
    parts = []
    if padded:
        start = torch.arange(padded, device=q.device)[:, None] * block + torch.arange(span, device=q.device)[None, :]
        mask = (band[None] & (start >= front_pad)[:, None, :]).unsqueeze(0)  # (1, m, G·Bq, L): 4-D keeps SDPA's flash kernel
        parts.append(F.scaled_dot_product_attention(q_blocks[:, :padded], k_win[:, :padded], v_win[:, :padded],
                                                    attn_mask=mask, scale=scale))
    if padded < n_blocks:
        parts.append(F.scaled_dot_product_attention(q_blocks[:, padded:], k_win[:, padded:], v_win[:, padded:],
                                                    attn_mask=band, scale=scale))
    out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)  # (B·Hkv, N, G·Bq, Dv)
    out = out.view(batch, n_kv_heads, n_blocks, groups, block, out.shape[-1]).transpose(2, 3)
    return out.reshape(batch, n_kv_heads * groups, n_blocks * block, out.shape[-1])[:, :, :time]


def _blockwise_swa_copied(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, scale: float | None,
                          block_size: int | None, prefix_len: int, groups: int) -> torch.Tensor:
    """The autograd path: each block's keys copied into ``[B·N, Hq, L, D]`` (SDPA's backward is
    fastest on those) with an ``[N, 1, Bq, L]`` mask; same arguments and result as :func:`blockwise_swa`."""
    batch, _, time, head_dim = q.shape
    scale = head_dim**-0.5 if scale is None else scale
    block = max(1, min(block_size or default_block_size(window, backward=True), time))
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
