"""The recurrent state of (normalised) linear attention."""

from __future__ import annotations

from typing import NamedTuple

import torch


class LinearAttentionState(NamedTuple):
    """``kv [B, Hkv, Dk, Dv]`` = Σ φ(k)ᵀv and, when normalising, ``z [B, Hkv, Dk]`` = Σ φ(k); fp32."""

    kv: torch.Tensor
    z: torch.Tensor | None = None

    @staticmethod
    def zeros(batch: int, n_kv_heads: int, key_dim: int, value_dim: int, *, normalize: bool,
              device: torch.device | str | None = None) -> LinearAttentionState:
        """An empty state (no tokens seen), always fp32."""
        kv = torch.zeros(batch, n_kv_heads, key_dim, value_dim, device=device, dtype=torch.float32)
        z = torch.zeros(batch, n_kv_heads, key_dim, device=device, dtype=torch.float32) if normalize else None
        return LinearAttentionState(kv, z)
