"""Reference sliding-window attention with a dense ``T × (P+T)`` band mask. Tests and benchmarks only."""

from __future__ import annotations

import torch


def dense_mask_swa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, *, scale: float | None = None,
    prefix_len: int = 0,
) -> torch.Tensor:
    """``q [B,Hq,T,D]``, ``k,v [B,Hkv,P+T,·]`` → ``[B,Hq,T,Dv]``: full scores, then the band mask."""
    n_heads, time = q.shape[1], q.shape[2]
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    k = k.repeat_interleave(n_heads // k.shape[1], dim=1)
    v = v.repeat_interleave(n_heads // v.shape[1], dim=1)
    t = torch.arange(time, device=q.device)[:, None] + prefix_len
    s = torch.arange(k.shape[2], device=q.device)[None, :]
    band = (s <= t) & (s > t - window)  # (T, P+T)
    scores = (q.float() @ k.float().transpose(-1, -2)) * scale
    return (scores.masked_fill(~band, float("-inf")).softmax(-1) @ v.float()).to(q.dtype)
