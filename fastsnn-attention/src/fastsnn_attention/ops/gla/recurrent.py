"""Recurrent gated linear attention: one token at a time from a ``[B, Hkv, Dk, Dv]`` state (decoding)."""

from __future__ import annotations

import torch

from fastsnn.errors import FastSNNError
from fastsnn_attention.ops.gla.chunk import MIN_LOG_DECAY
from fastsnn_attention.ops.groups import check_qkv, merge_groups, split_groups


def recurrent_gla(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``S ← diag(e^{g_t}) S + k_tᵀ v_t``, ``o_t = scale · q_t S`` for each of ``T`` tokens.

    Shapes as :func:`fastsnn_attention.ops.gla.chunk_gla`; returns ``o [B, Hq, T, Dv]`` and the
    state after the last token (fp32).
    """
    n_kv_heads, _ = check_qkv(q, k, v, what="recurrent_gla")
    if g.shape != k.shape:
        raise FastSNNError(f"recurrent_gla: g must have k's shape {tuple(k.shape)}, got {tuple(g.shape)}")
    batch, _, time, key_dim = q.shape
    scale = key_dim**-0.5 if scale is None else scale
    state = (
        torch.zeros(batch, n_kv_heads, key_dim, v.shape[-1], device=q.device)
        if initial_state is None
        else initial_state.float()
    )
    q_g = split_groups(q, n_kv_heads).float() * scale  # (B, Hkv, G, T, Dk)
    decay = g.float().clamp(MIN_LOG_DECAY, 0.0).exp()
    k_f, v_f = k.float(), v.float()
    outputs = []
    for t in range(time):
        state = decay[:, :, t].unsqueeze(-1) * state + k_f[:, :, t].unsqueeze(-1) * v_f[:, :, t].unsqueeze(-2)
        outputs.append(q_g[:, :, :, t] @ state)  # (B, Hkv, G, Dv)
    return merge_groups(torch.stack(outputs, dim=3)).to(q.dtype), state
