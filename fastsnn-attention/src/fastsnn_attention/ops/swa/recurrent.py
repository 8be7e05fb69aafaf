"""Sliding-window decoding from a ring buffer of the last ``W`` keys and values.

Softmax attention does not depend on the order of its keys, so the ring is read as is: slot
``p mod W`` holds position ``p`` (keys already rotated by RoPE at their own position), and a
validity mask hides slots not yet written. Cost per token: O(W).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def ring_swa_step(
    q: torch.Tensor,
    ring_k: torch.Tensor,
    ring_v: torch.Tensor,
    n_valid: int,
    *,
    scale: float | None = None,
) -> torch.Tensor:
    """One query token against the ring.

    :param q: ``[B, Hq, 1, D]`` the newest query; its own key must already be in the ring.
    :param ring_k: ``[B, Hkv, W, D]`` keys by slot; ``ring_v`` ``[B, Hkv, W, Dv]``.
    :param n_valid: how many slots hold tokens (``min(seen, W)``); slots ``≥ n_valid`` are empty.
    :returns: ``[B, Hq, 1, Dv]`` in ``q``'s dtype.
    """
    batch, n_heads, _, head_dim = q.shape
    n_kv_heads, window = ring_k.shape[1], ring_k.shape[2]
    # The G query heads of a key/value head are G queries against the same keys: one SDPA call,
    # no copies of the ring. SDPA accumulates scores and sums in fp32 (as blockwise_swa does), so
    # fp16/bf16 neither overflow (q·k of activations ~300 exceeds 65,504) nor round the scores.
    q_g = q.reshape(batch, n_kv_heads, n_heads // n_kv_heads, head_dim)  # (B, Hkv, G, D)
    filled = None
    if n_valid < window:
        filled = (torch.arange(window, device=q.device) < n_valid)[None, :]  # (1, W): True where a token is
    if torch.compiler.is_compiling():  # explicit fp32 reductions: the compiler fuses them into two passes over the ring
        out = _ring_attention_reductions(q_g, ring_k, ring_v, filled, scale).to(q.dtype)
    else:
        out = F.scaled_dot_product_attention(q_g, ring_k.to(q.dtype), ring_v.to(q.dtype), attn_mask=filled, scale=scale)
    return out.reshape(batch, n_heads, 1, ring_v.shape[-1])  # (B, Hq, 1, Dv)


def _ring_attention_reductions(q_g: torch.Tensor, ring_k: torch.Tensor, ring_v: torch.Tensor,
                               filled: torch.Tensor | None, scale: float | None) -> torch.Tensor:
    """What SDPA computes for ``q_g [B, Hkv, G, D]`` against the ring, written as elementwise products
    and sums (fp32) so a compiler can fuse them: ``[B, Hkv, G, Dv]``."""
    scale = q_g.shape[-1] ** -0.5 if scale is None else scale
    scores = (q_g.float().unsqueeze(-2) * ring_k.float().unsqueeze(2)).sum(-1) * scale  # (B, Hkv, G, W)
    if filled is not None:
        scores = scores.masked_fill(~filled, float("-inf"))
    weights = scores.softmax(-1)
    return (weights.unsqueeze(-1) * ring_v.float().unsqueeze(2)).sum(-2)  # (B, Hkv, G, Dv)
