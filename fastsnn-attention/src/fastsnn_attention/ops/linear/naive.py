"""Reference linear attention, written straight from the formula. Tests only: slow by design.

``o_t = Σ_{s≤t} (q_t·k_s) v_s`` and, normalised, ``o_t / (Σ_{s≤t} q_t·k_s + eps)``; ``q`` is
scaled by ``Dk ** -0.5`` unless ``scale`` is given. Key/value heads are repeated to the number
of query heads, so these functions share nothing with the fast kernels.
"""

from __future__ import annotations

import torch

from fastsnn_attention.ops.linear.state import LinearAttentionState


def _expand_kv(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    return x.repeat_interleave(n_heads // x.shape[1], dim=1)


def naive_parallel_linear_attn(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, normalize: bool = False,
    scale: float | None = None, eps: float = 1e-6,
) -> torch.Tensor:
    """Quadratic form with an explicit ``T×T`` causal mask. ``q [B,Hq,T,Dk]``, ``k,v [B,Hkv,T,·]`` → ``[B,Hq,T,Dv]``."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    k, v = _expand_kv(k.float(), q.shape[1]), _expand_kv(v.float(), q.shape[1])
    time = q.shape[2]
    causal = torch.ones(time, time, dtype=torch.bool, device=q.device).tril()
    weights = torch.einsum("bhtd,bhsd->bhts", q.float() * scale, k).masked_fill(~causal, 0.0)
    out = torch.einsum("bhts,bhsd->bhtd", weights, v)
    if normalize:
        out = out / (weights.sum(-1, keepdim=True) + eps)
    return out.to(q.dtype)


def naive_recurrent_linear_attn(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, normalize: bool = False,
    scale: float | None = None, initial_state: LinearAttentionState | None = None, eps: float = 1e-6,
) -> tuple[torch.Tensor, LinearAttentionState]:
    """Token-by-token recurrence with per-query-head states; returns ``(o, final state per kv head)``.

    ``initial_state`` (per kv head, as the kernels use it) is repeated to the query heads.
    """
    n_heads, n_kv_heads = q.shape[1], k.shape[1]
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    k, v = _expand_kv(k.float(), n_heads), _expand_kv(v.float(), n_heads)
    batch, _, time, key_dim = q.shape
    if initial_state is None:
        kv = torch.zeros(batch, n_heads, key_dim, v.shape[-1], device=q.device)
        z = torch.zeros(batch, n_heads, key_dim, device=q.device)
    else:
        kv = _expand_kv(initial_state.kv.float(), n_heads)
        z = _expand_kv(initial_state.z.float(), n_heads) if initial_state.z is not None else torch.zeros(
            batch, n_heads, key_dim, device=q.device)
    outs = []
    for t in range(time):
        kv = kv + torch.einsum("bhd,bhe->bhde", k[:, :, t], v[:, :, t])
        z = z + k[:, :, t]
        q_t = q[:, :, t].float() * scale
        o_t = torch.einsum("bhd,bhde->bhe", q_t, kv)
        if normalize:
            o_t = o_t / (torch.einsum("bhd,bhd->bh", q_t, z).unsqueeze(-1) + eps)
        outs.append(o_t)
    group = n_heads // n_kv_heads
    final = LinearAttentionState(kv[:, ::group], z[:, ::group] if normalize else None)
    return torch.stack(outs, dim=2).to(q.dtype), final
