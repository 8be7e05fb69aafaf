"""Reference gated linear attention from the formula. Tests only.

``o_t = scale · Σ_{s≤t} Σ_d q_td k_sd exp(Σ_{s<r≤t} g_rd) v_s``. No clamping: give in-range gates.
"""

from __future__ import annotations

import torch


def _expand_kv(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    return x.repeat_interleave(n_heads // x.shape[1], dim=1)


def naive_parallel_gla(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, *, scale: float | None = None
) -> torch.Tensor:
    """Explicit ``[T, T, Dk]`` decay tensor. ``q [B,Hq,T,Dk]``, ``k,g [B,Hkv,T,Dk]``, ``v [B,Hkv,T,Dv]``."""
    n_heads, time = q.shape[1], q.shape[2]
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    k, v, g = (_expand_kv(x.float(), n_heads) for x in (k, v, g))
    b = g.cumsum(2)  # (B, H, T, Dk)
    causal = torch.ones(time, time, dtype=torch.bool, device=q.device).tril()
    log_decay = (b[:, :, :, None] - b[:, :, None]).masked_fill(~causal[..., None], float("-inf"))  # (B,H,T,T,Dk)
    weights = torch.einsum("bhtd,bhsd,bhtsd->bhts", q.float() * scale, k, log_decay.exp())
    return torch.einsum("bhts,bhse->bhte", weights, v).to(q.dtype)


def naive_recurrent_gla(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, *, scale: float | None = None,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token by token with per-query-head states; returns ``o`` and the final state per kv head."""
    n_heads, n_kv_heads = q.shape[1], k.shape[1]
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    k, v, g = (_expand_kv(x.float(), n_heads) for x in (k, v, g))
    batch, _, time, key_dim = q.shape
    state = (torch.zeros(batch, n_heads, key_dim, v.shape[-1], device=q.device) if initial_state is None
             else _expand_kv(initial_state.float(), n_heads))
    outs = []
    for t in range(time):
        state = torch.einsum("bhd,bhde->bhde", g[:, :, t].exp(), state)
        state = state + torch.einsum("bhd,bhe->bhde", k[:, :, t], v[:, :, t])
        outs.append(torch.einsum("bhd,bhde->bhe", q[:, :, t].float() * scale, state))
    return torch.stack(outs, dim=2).to(q.dtype), state[:, :: n_heads // n_kv_heads]
