"""Reference causal softmax attention: explicit scores, mask and softmax. Tests only."""

from __future__ import annotations

import torch


def naive_softmax_attn(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, scale: float | None = None, prefix_len: int = 0
) -> torch.Tensor:
    """``q [B,Hq,T,D]``, ``k,v [B,Hkv,P+T,·]`` → ``[B,Hq,T,Dv]``; query ``t`` sees keys ``≤ P + t``."""
    n_heads, time = q.shape[1], q.shape[2]
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    k = k.repeat_interleave(n_heads // k.shape[1], dim=1).float()
    v = v.repeat_interleave(n_heads // v.shape[1], dim=1).float()
    visible = torch.ones(time, k.shape[2], dtype=torch.bool, device=q.device).tril(prefix_len)
    scores = (q.float() @ k.transpose(-1, -2)) * scale
    return (scores.masked_fill(~visible, float("-inf")).softmax(-1) @ v).to(q.dtype)
