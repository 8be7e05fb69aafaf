"""Sliding-window decoding from a ring buffer of the last ``W`` keys and values.

Softmax attention does not depend on the order of its keys, so the ring is read as is: slot
``p mod W`` holds position ``p`` (keys already rotated by RoPE at their own position), and a
validity mask hides slots not yet written. Cost per token: O(W).
"""

from __future__ import annotations

import torch

from fastsnn_attention.ops.groups import merge_groups, split_groups


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
    :returns: ``[B, Hq, 1, Dv]``.
    """
    n_kv_heads, window = ring_k.shape[1], ring_k.shape[2]
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    q_g = split_groups(q, n_kv_heads)  # (B, Hkv, G, 1, D)
    scores = (q_g @ ring_k.unsqueeze(2).transpose(-1, -2)).float() * scale  # (B, Hkv, G, 1, W)
    if n_valid < window:
        empty = torch.arange(window, device=q.device) >= n_valid
        scores = scores.masked_fill(empty, float("-inf"))
    out = scores.softmax(-1).to(ring_v.dtype) @ ring_v.unsqueeze(2)  # (B, Hkv, G, 1, Dv)
    return merge_groups(out).to(q.dtype)
