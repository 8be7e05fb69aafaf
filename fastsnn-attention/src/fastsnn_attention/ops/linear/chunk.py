"""Chunkwise-parallel linear attention (the training form).

For a chunk ``n`` of ``C`` tokens with queries ``Q``, keys ``K``, values ``V`` (feature maps
already applied) and the state ``S`` of all earlier chunks::

    O_n = tril(Q Kᵀ) V + Q S_{n-1}          S_n = S_{n-1} + Kᵀ V

All chunks are computed at once as batched matmuls: the per-chunk ``KᵀV`` are summed with an
exclusive prefix sum over chunks to get every ``S_{n-1}``. States and accumulation are fp32
whatever the input dtype; the output has the input dtype.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from fastsnn.errors import FastSNNError
from fastsnn_attention.ops.groups import check_qkv, merge_groups
from fastsnn_attention.ops.linear.state import LinearAttentionState


def exclusive_chunk_cumsum(per_chunk: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum of all *earlier* chunks along ``dim`` (the first entry is zero)."""
    inclusive = per_chunk.cumsum(dim)
    zero = torch.zeros_like(per_chunk.narrow(dim, 0, 1))
    return torch.cat([zero, inclusive.narrow(dim, 0, per_chunk.shape[dim] - 1)], dim=dim)


def chunk_linear_attn(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    normalize: bool = False,
    scale: float | None = None,
    initial_state: LinearAttentionState | None = None,
    output_final_state: bool = False,
    chunk_size: int = 64,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, LinearAttentionState | None]:
    """Causal linear attention ``o_t = Σ_{s≤t} (q_t·k_s) v_s`` [``/ (q_t·Σ_{s≤t} k_s + eps)``].

    :param q: ``[B, Hq, T, Dk]`` featurised queries.
    :param k: ``[B, Hkv, T, Dk]`` featurised keys (``Hkv`` divides ``Hq``; grouped-query heads).
    :param v: ``[B, Hkv, T, Dv]`` values.
    :param normalize: divide by the running key sum ``z`` (features must be non-negative).
    :param scale: multiplies ``q`` (default ``Dk ** -0.5``).
    :param initial_state: state carried from earlier tokens (fp32), or ``None`` for zeros.
    :param output_final_state: also return the state after the last token.
    :param chunk_size: tokens per chunk ``C``; ``T`` need not be a multiple of it.
    :returns: ``o [B, Hq, T, Dv]`` in ``q``'s dtype and the final state (or ``None``).
    """
    n_kv_heads, _ = check_qkv(q, k, v, what="chunk_linear_attn")
    if chunk_size <= 0:
        raise FastSNNError(f"chunk_linear_attn: chunk_size must be positive, got {chunk_size}")
    if initial_state is not None and normalize and initial_state.z is None:
        raise FastSNNError("chunk_linear_attn: normalize=True needs an initial_state with a key sum z")
    batch, _, time, key_dim = q.shape
    scale = key_dim**-0.5 if scale is None else scale
    n_chunks = max(1, -(-time // chunk_size))
    pad = n_chunks * chunk_size - time

    def chunked(x: torch.Tensor) -> torch.Tensor:  # [B, H, T, D] → [B, H, N, C, D], fp32, zero-padded
        x = F.pad(x.float(), (0, 0, 0, pad)) if pad else x.float()
        return x.reshape(x.shape[0], x.shape[1], n_chunks, chunk_size, x.shape[-1])

    # Queries as [B, Hkv, G, N, C, Dk]; keys/values/states get a broadcast group axis at dim 2.
    q_c = chunked(q).view(batch, n_kv_heads, -1, n_chunks, chunk_size, key_dim) * scale
    k_c = chunked(k).unsqueeze(2)  # (B, Hkv, 1, N, C, Dk)
    v_c = chunked(v).unsqueeze(2)  # (B, Hkv, 1, N, C, Dv)

    kv_per_chunk = k_c.transpose(-1, -2) @ v_c  # (B, Hkv, 1, N, Dk, Dv)
    kv_before = exclusive_chunk_cumsum(kv_per_chunk, dim=3)  # state before each chunk
    if initial_state is not None:
        kv_before = kv_before + initial_state.kv.float()[:, :, None, None]

    scores = (q_c @ k_c.transpose(-1, -2)).tril_()  # (B, Hkv, G, N, C, C), causal within the chunk
    out = (scores @ v_c).add_(q_c @ kv_before)  # (B, Hkv, G, N, C, Dv); in place: fresh matmul outputs

    z_final = None
    if normalize:
        k_sum_per_chunk = k_c.sum(-2)  # (B, Hkv, 1, N, Dk)
        z_before = exclusive_chunk_cumsum(k_sum_per_chunk, dim=3)
        if initial_state is not None:
            z_before = z_before + initial_state.z.float()[:, :, None, None]
        denom = scores.sum(-1) + (q_c @ z_before.unsqueeze(-1)).squeeze(-1)  # (B, Hkv, G, N, C)
        out = out / (denom.unsqueeze(-1) + eps)
        z_final = z_before[:, :, 0, -1] + k_sum_per_chunk[:, :, 0, -1]

    o = merge_groups(out.flatten(3, 4))[:, :, :time].to(q.dtype)  # (B, Hq, T, Dv)
    if not output_final_state:
        return o, None
    kv_final = kv_before[:, :, 0, -1] + kv_per_chunk[:, :, 0, -1]  # (B, Hkv, Dk, Dv)
    return o, LinearAttentionState(kv_final, z_final)
