"""Grouped-query head bookkeeping shared by the kernels.

Queries have ``Hq`` heads, keys and values ``Hkv`` heads, ``Hq = G · Hkv``. Kernels view the
queries as ``[B, Hkv, G, T, D]`` and give keys, values and states a broadcast axis of size 1
at dim 2, so one key/value head (and one recurrent state) serves ``G`` query heads.
"""

from __future__ import annotations

import torch

from fastsnn.errors import FastSNNError


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, what: str) -> tuple[int, int]:
    """Check ``q [B, Hq, Tq, Dk]``, ``k [B, Hkv, Tk, Dk]``, ``v [B, Hkv, Tk, Dv]``; return ``(Hkv, G)``."""
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise FastSNNError(
            f"{what}: q, k, v must be 4-D [batch, heads, time, head_dim], got shapes "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if k.shape[:3] != v.shape[:3] or q.shape[0] != k.shape[0] or q.shape[-1] != k.shape[-1]:
        raise FastSNNError(
            f"{what}: incompatible shapes q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}; "
            "k and v need the same batch, heads and time, q and k the same batch and head_dim"
        )
    n_kv_heads = k.shape[1]
    if q.shape[1] % n_kv_heads:
        raise FastSNNError(f"{what}: {n_kv_heads} key/value heads do not divide {q.shape[1]} query heads")
    return n_kv_heads, q.shape[1] // n_kv_heads


def split_groups(q: torch.Tensor, n_kv_heads: int) -> torch.Tensor:
    """``[B, Hq, T, D]`` → ``[B, Hkv, G, T, D]`` (a view)."""
    batch, n_heads, time, dim = q.shape
    return q.view(batch, n_kv_heads, n_heads // n_kv_heads, time, dim)


def merge_groups(x: torch.Tensor) -> torch.Tensor:
    """``[B, Hkv, G, T, D]`` → ``[B, Hq, T, D]``."""
    batch, n_kv_heads, groups, time, dim = x.shape
    return x.reshape(batch, n_kv_heads * groups, time, dim)
