"""``retention``: a RetNet-style causal token mixer with a per-head exponential decay.

Per head ``h`` with decay ``γ_h ∈ (0, 1)``, the recurrent form is::

    S_t = γ_h · S_{t-1} + k_tᵀ v_t          (state [d_k, d_v])
    o_t = q_t · S_t

and the parallel form over a block of ``T`` tokens following a carried state ``S_prev`` is::

    O = (Q Kᵀ ⊙ D) V + (γ^{i+1} · Q) S_prev,   D[i, j] = γ^{i-j} for i ≥ j else 0
    S_new = γ^T S_prev + Σ_j γ^{T-1-j} k_jᵀ v_j

The parallel form trains (it builds a ``T×T`` decay matrix per head: fine for an example, a
chunked form would bound it); the recurrent state is the decoding cache, O(1) in the prefix.
:func:`retention_naive` is the token-by-token reference the tests compare against.

The layer implements only :meth:`RetentionAttention.mix` and :meth:`RetentionAttention.init_cache`:
core's ``AttentionBase.forward`` checks the input and the cache and keeps ``cache.seen``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field, model_validator
from torch import nn

import fastsnn
from fastsnn import AttentionBase, FastSNNError, LayerCache


def retention_parallel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_decay: torch.Tensor,
                       state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Block form. ``q, k [B, H, T, d_k]``, ``v [B, H, T, d_v]``, ``log_decay [H]`` (log γ < 0),
    ``state [B, H, d_k, d_v]`` or None → ``(out [B, H, T, d_v], new_state [B, H, d_k, d_v])``."""
    T = q.shape[2]
    pos = torch.arange(T, device=q.device, dtype=torch.float32)
    gap = pos.view(-1, 1) - pos.view(1, -1)  # (T, T): i - j
    causal = gap >= 0
    decay = torch.exp(gap.clamp(min=0) * log_decay.view(-1, 1, 1)) * causal  # (H, T, T)
    scores = q @ k.transpose(-1, -2) * decay  # (B, H, T, T)
    out = scores @ v  # (B, H, T, d_v)
    to_end = torch.exp((T - 1 - pos) * log_decay.view(-1, 1))  # (H, T): γ^{T-1-j}
    new_state = (k * to_end[None, :, :, None]).transpose(-1, -2) @ v  # (B, H, d_k, d_v)
    if state is not None:
        from_start = torch.exp((pos + 1) * log_decay.view(-1, 1))  # (H, T): γ^{i+1}
        out = out + (q * from_start[None, :, :, None]) @ state
        new_state = new_state + torch.exp(T * log_decay).view(1, -1, 1, 1) * state
    return out, new_state


def retention_naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_decay: torch.Tensor,
                    state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-by-token recurrence (the reference); same shapes as :func:`retention_parallel`."""
    B, H, T, dk = q.shape
    S = state if state is not None else q.new_zeros(B, H, dk, v.shape[-1])
    gamma = torch.exp(log_decay).view(1, -1, 1, 1)
    outs = []
    for t in range(T):
        S = gamma * S + k[:, :, t, :, None] * v[:, :, t, None, :]  # (B, H, d_k, d_v)
        outs.append((q[:, :, t, None, :] @ S).squeeze(2))  # (B, H, d_v)
    return torch.stack(outs, dim=2), S


class RetentionCache(LayerCache):
    """Decoding state of one retention layer: ``state [B, H, d_k, d_v]`` in fp32."""

    def __init__(self, batch_size: int, n_heads: int, head_dim: int, device: Any = None,
                 owner: nn.Module | None = None) -> None:
        super().__init__(batch_size, owner)
        self.state = torch.zeros(batch_size, n_heads, head_dim, head_dim, device=device, dtype=torch.float32)


class RetentionAttention(AttentionBase):
    """Multi-scale retention: per-head decays from ``min_decay`` to ``max_decay``, O(1) decoding state."""

    class Params(fastsnn.Params):
        min_decay: float = Field(0.75, gt=0, lt=1, description="γ of the most local head")
        max_decay: float = Field(0.98, gt=0, lt=1, description="γ of the most global head")
        head_norm: bool = Field(True, description="RMS-normalise each head's output (keeps scales stable)")

        @model_validator(mode="after")
        def _ordered(self) -> RetentionAttention.Params:
            if self.min_decay > self.max_decay:
                raise ValueError(f"min_decay ({self.min_decay}) must not exceed max_decay ({self.max_decay})")
            return self

    cache_class = RetentionCache

    def __init__(self, d_model: int, n_heads: int, layer_idx: int = 0, max_seq_len: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(d_model, n_heads, layer_idx, max_seq_len, **kwargs)  # validates params → self.params
        p = self.params
        if d_model % n_heads:
            raise FastSNNError(f"retention: n_heads ({n_heads}) must divide d_model ({d_model})")
        self.head_dim = d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)
        # per-head RMS norm of the retention output (core's RMSNorm, over d_v); identity when disabled
        self.out_norm = fastsnn.RMSNorm(self.head_dim, eps=1e-6) if p.head_norm else nn.Identity()
        # 1 - γ spaced geometrically between the two ends (RetNet uses γ = 1 - 2^(-5-h))
        one_minus = torch.logspace(math.log10(1 - p.min_decay), math.log10(1 - p.max_decay), n_heads)
        self.register_buffer("log_decay", torch.log1p(-one_minus), persistent=False)  # (H,)

    def init_cache(self, batch_size: int, device: Any = None, dtype: torch.dtype | None = None) -> RetentionCache:
        return RetentionCache(batch_size, self.n_heads, self.head_dim, device=device, owner=self)

    def mix(self, x: torch.Tensor, cache: RetentionCache | None, start: int) -> torch.Tensor:
        """``x [B, T, d_model]`` → ``[B, T, d_model]``; with ``cache``, continue from its state.

        Core's :meth:`AttentionBase.forward` has already checked ``x`` and ``cache`` and advances
        ``cache.seen`` afterwards; retention needs no absolute position, only the carried state.
        """
        q, k, v = self._heads(x)
        out, new_state = retention_parallel(q, k, v, self.log_decay, None if cache is None else cache.state)
        if cache is not None:
            cache.state = new_state.detach()
        return self._merge(out, x.dtype)

    def naive(self, x: torch.Tensor) -> torch.Tensor:
        """The same layer computed token by token with :func:`retention_naive` (for tests)."""
        out, _ = retention_naive(*self._heads(x), self.log_decay)
        return self._merge(out, x.dtype)

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape
        q, k, v = (proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2).float()
                   for proj in (self.q_proj, self.k_proj, self.v_proj))  # (B, H, T, hd), fp32
        return q * self.head_dim ** -0.5, k, v

    def _merge(self, out: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        out = self.out_norm(out)  # (B, H, T, hd)
        B, _, T, _ = out.shape
        return self.o_proj(out.transpose(1, 2).reshape(B, T, -1).to(dtype))  # (B, T, d_model)
