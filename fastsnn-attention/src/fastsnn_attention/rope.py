"""Rotary position embeddings (RoPE), half-split layout, applied at absolute positions."""

from __future__ import annotations

import torch
from torch import nn

from fastsnn.errors import FastSNNError


class RotaryEmbedding(nn.Module):
    """Rotates channel pairs ``(i, i + D/2)`` of each head by ``pos · base^(−2i/D)``."""

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise FastSNNError(f"rotary embeddings need an even head_dim, got {head_dim}; change d_model or n_heads")
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)  # (D/2,)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """``x [B, H, T, D]`` whose first token is at absolute position ``offset`` → rotated, same dtype."""
        positions = torch.arange(offset, offset + x.shape[-2], device=x.device, dtype=torch.float32)
        angles = positions[:, None] * self.inv_freq.to(x.device)[None, :]  # (T, D/2)
        cos, sin = angles.cos(), angles.sin()
        x1, x2 = x.float().chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)
