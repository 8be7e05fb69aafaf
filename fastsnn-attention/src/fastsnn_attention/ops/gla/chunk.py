"""Chunkwise gated linear attention (GLA) with per-key-channel decay, gates in log space.

Recurrence (per key/value head)::

    S_t = diag(exp(g_t)) S_{t-1} + k_tᵀ v_t          o_t = scale · q_t S_t

with log decays ``g_t ≤ 0``. Inside a chunk let ``b_t = Σ_{s≤t} g_s`` (cumulative, ≤ 0). Then
``o_t = (q_t ⊙ e^{b_t}) S_prev + Σ_{s≤t} Σ_d q_td k_sd e^{b_td − b_sd} v_s``.

Every exponential is of a non-positive number except in the intra-chunk scores, which are
factorised around a reference point ``r`` at the start of each sub-chunk of
:data:`SUBCHUNK` tokens: ``(q_t e^{b_t − b_r}) · (k_s e^{b_r − b_s})``. The query factor is
≤ 1; the key factor is ≤ 1 for earlier sub-chunks and at most ``e^{SUBCHUNK·|g_min|}`` inside
its own sub-chunk (keys of later sub-chunks are masked before ``exp``). Clamping ``g`` at
:data:`MIN_LOG_DECAY` keeps that below ``e^80``, safely inside fp32. The state is carried
from chunk to chunk in fp32 by a loop over chunks (``T / C`` steps of small matmuls).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from fastsnn.errors import FastSNNError
from fastsnn_attention.ops.groups import check_qkv, merge_groups

#: tokens per sub-chunk of the factorised intra-chunk scores
SUBCHUNK = 16
#: smallest log decay per step (decay ≥ e^-5 ≈ 0.0067); SUBCHUNK · 5 = 80 < log(fp32 max) ≈ 88.7
MIN_LOG_DECAY = -5.0


def chunk_gla(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gated linear attention over ``T`` tokens, chunk by chunk.

    :param q: ``[B, Hq, T, Dk]`` queries (``Hq`` a multiple of ``Hkv``).
    :param k: ``[B, Hkv, T, Dk]`` keys.
    :param v: ``[B, Hkv, T, Dv]`` values.
    :param g: ``[B, Hkv, T, Dk]`` log decays, clamped here to ``[MIN_LOG_DECAY, 0]``.
    :param scale: multiplies ``q`` (default ``Dk ** -0.5``).
    :param initial_state: ``[B, Hkv, Dk, Dv]`` state before the first token (fp32) or ``None``.
    :param output_final_state: also return the state after the last token.
    :param chunk_size: ``C``, at most :data:`SUBCHUNK` or a multiple of it.
    :returns: ``o [B, Hq, T, Dv]`` in ``q``'s dtype and the final state ``[B, Hkv, Dk, Dv]`` (fp32) or ``None``.
    """
    n_kv_heads, _ = check_qkv(q, k, v, what="chunk_gla")
    if g.shape != k.shape:
        raise FastSNNError(f"chunk_gla: g must have k's shape {tuple(k.shape)}, got {tuple(g.shape)}")
    sub = min(SUBCHUNK, chunk_size)
    if chunk_size <= 0 or chunk_size % sub:
        raise FastSNNError(f"chunk_gla: chunk_size must be <= {SUBCHUNK} or a multiple of it, got {chunk_size}")
    batch, _, time, key_dim = q.shape
    value_dim = v.shape[-1]
    scale = key_dim**-0.5 if scale is None else scale
    n_chunks = max(1, -(-time // chunk_size))
    n_sub = chunk_size // sub
    pad = n_chunks * chunk_size - time

    def chunked(x: torch.Tensor) -> torch.Tensor:  # [B, H, T, D] → [B, H, N, C, D], fp32; padding decays nothing
        x = F.pad(x.float(), (0, 0, 0, pad)) if pad else x.float()
        return x.reshape(x.shape[0], x.shape[1], n_chunks, chunk_size, x.shape[-1])

    q_c = chunked(q).view(batch, n_kv_heads, -1, n_chunks, chunk_size, key_dim) * scale  # (B, Hkv, G, N, C, Dk)
    k_c = chunked(k).unsqueeze(2)  # (B, Hkv, 1, N, C, Dk)
    v_c = chunked(v).unsqueeze(2)  # (B, Hkv, 1, N, C, Dv)
    b = chunked(g.clamp(MIN_LOG_DECAY, 0.0)).cumsum(-2).unsqueeze(2)  # (B, Hkv, 1, N, C, Dk), ≤ 0

    # -- intra-chunk scores, factorised around the start of each query sub-chunk ----------------
    b_sub = b.unflatten(-2, (n_sub, sub))  # (B, Hkv, 1, N, n, c, Dk)
    ref = F.pad(b_sub[..., :-1, -1:, :], (0, 0, 0, 0, 1, 0))  # b just before each sub-chunk: (.., n, 1, Dk)
    q_hat = q_c.unflatten(-2, (n_sub, sub)) * (b_sub - ref).exp()  # (B, Hkv, G, N, n, c, Dk)
    key_sub = torch.arange(chunk_size, device=q.device) // sub  # sub-chunk of each key
    later = key_sub[None, :] > torch.arange(n_sub, device=q.device)[:, None]  # (n, C): keys after the sub-chunk
    key_exp = (ref - b.unsqueeze(-3)).masked_fill(later[..., None], float("-inf"))  # (B, Hkv, 1, N, n, C, Dk)
    k_hat = k_c.unsqueeze(-3) * key_exp.exp()  # (B, Hkv, 1, N, n, C, Dk)
    scores = (q_hat @ k_hat.transpose(-1, -2)).flatten(-3, -2).tril_()  # (B, Hkv, G, N, C, C)
    out = scores @ v_c  # (B, Hkv, G, N, C, Dv)

    # -- inter-chunk: state carried chunk to chunk ------------------------------------------------
    b_last = b[..., -1:, :]  # (B, Hkv, 1, N, 1, Dk)
    k_to_end = k_c * (b_last - b).exp()  # keys decayed to the chunk's end
    state_updates = (k_to_end.transpose(-1, -2) @ v_c).squeeze(2)  # (B, Hkv, N, Dk, Dv)
    chunk_decay = b_last.squeeze(2).squeeze(-2).exp().unsqueeze(-1)  # (B, Hkv, N, Dk, 1)
    state = (
        torch.zeros(batch, n_kv_heads, key_dim, value_dim, device=q.device)
        if initial_state is None
        else initial_state.float()
    )
    states_before = []
    for n in range(n_chunks):
        states_before.append(state)
        state = chunk_decay[:, :, n] * state + state_updates[:, :, n]
    s_before = torch.stack(states_before, dim=2).unsqueeze(2)  # (B, Hkv, 1, N, Dk, Dv)
    out = out + (q_c * b.exp()) @ s_before

    o = merge_groups(out.flatten(3, 4))[:, :, :time].to(q.dtype)  # (B, Hq, T, Dv)
    return o, (state if output_final_state else None)
