"""Causal softmax attention through ``torch.nn.functional.scaled_dot_product_attention``.

Without history this is SDPA's ``is_causal`` path (fused kernels where available). When the
queries continue a cached sequence (``P`` earlier keys), query ``t`` sees keys ``≤ P + t``: a
bottom-right-aligned causal mask of ``T × (P+T)``, built only when ``T > 1``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from fastsnn_attention.ops.groups import check_qkv


def causal_softmax_attn(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, scale: float | None = None, prefix_len: int = 0
) -> torch.Tensor:
    """``q [B, Hq, T, D]``, ``k [B, Hkv, P+T, D]``, ``v [B, Hkv, P+T, Dv]`` → ``[B, Hq, T, Dv]``."""
    _n_kv_heads, groups = check_qkv(q, k, v, what="causal_softmax_attn")
    time = q.shape[2]
    if groups > 1:  # grouped-query heads: SDPA's enable_gqa needs torch ≥ 2.5, so repeat instead
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
    if prefix_len == 0:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    if time == 1:  # one new token sees the whole history
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    key_pos = torch.arange(prefix_len + time, device=q.device)
    query_pos = torch.arange(time, device=q.device) + prefix_len
    visible = key_pos[None, :] <= query_pos[:, None]  # (T, P+T)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=visible, scale=scale)
