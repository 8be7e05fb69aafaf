"""Chunkwise-parallel linear attention (the training form).

For a chunk ``n`` of ``C`` tokens with queries ``Q``, keys ``K``, values ``V`` (feature maps
already applied) and the state ``S`` of all earlier chunks::

    O_n = tril(Q Kᵀ) V + Q S_{n-1}          S_n = S_{n-1} + Kᵀ V

All chunks are computed at once as batched matmuls; every ``S_{n-1}`` comes from an exclusive
prefix sum of the per-chunk ``KᵀV``. When normalising, a ones column appended to ``V`` makes the
same matmuls carry the key sum ``z`` and the denominators ``q·z``. States and accumulation are
fp32 whatever the input dtype; the output has the input dtype.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from fastsnn.errors import FastSNNError
from fastsnn_attention.ops.groups import check_qkv, merge_groups
from fastsnn_attention.ops.linear.state import LinearAttentionState


class ExclusivePrefixSum(torch.autograd.Function):
    """``y_n = initial + Σ_{m<n} x_m`` along one axis (``y_0 = initial``).

    A loop of in-place adds over the ``N`` chunks: on CPU this is several times faster than
    ``torch.cumsum`` along a non-innermost axis, forward and backward (the backward is the
    matching exclusive suffix sum; ``initial`` receives the sum of all output gradients).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, dim: int, initial: torch.Tensor | None) -> torch.Tensor:
        ctx.dim, ctx.has_initial = dim, initial is not None
        out = torch.empty_like(x)
        running = torch.zeros_like(x.select(dim, 0)) if initial is None else initial.to(x.dtype).clone()
        for n in range(x.shape[dim]):
            out.select(dim, n).copy_(running)
            running += x.select(dim, n)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, torch.Tensor | None]:
        dim = ctx.dim
        grad_x = torch.empty_like(grad)
        running = torch.zeros_like(grad.select(dim, 0))
        for n in range(grad.shape[dim] - 1, -1, -1):
            grad_x.select(dim, n).copy_(running)
            running += grad.select(dim, n)
        return grad_x, None, (running if ctx.has_initial else None)


def exclusive_prefix_sum(x: torch.Tensor, dim: int, initial: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` summed over all *earlier* entries along ``dim``, plus ``initial`` (shape of ``x.select(dim, 0)``)."""
    return ExclusivePrefixSum.apply(x, dim, initial)


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
    q_c = chunked(q).view(batch, n_kv_heads, -1, n_chunks, chunk_size, key_dim)
    if not normalize:  # normalised, the scale cancels except against eps: divide eps by it instead
        q_c = q_c * scale
    k_c = chunked(k).unsqueeze(2)  # (B, Hkv, 1, N, C, Dk)
    v_c = chunked(v).unsqueeze(2)  # (B, Hkv, 1, N, C, Dv)
    state0 = None if initial_state is None else initial_state.kv.float()  # (B, Hkv, Dk, Dv)
    if normalize:
        # Append a ones column to the values: the same matmuls then also give the key sum z
        # (state column Dv) and the denominators (output column Dv).
        v_c = torch.cat([v_c, torch.ones_like(v_c[..., :1])], dim=-1)  # (B, Hkv, 1, N, C, Dv+1)
        if state0 is not None:
            state0 = torch.cat([state0, initial_state.z.float().unsqueeze(-1)], dim=-1)

    kv_per_chunk = k_c.transpose(-1, -2) @ v_c  # (B, Hkv, 1, N, Dk, Dv[+1])
    initial = None if state0 is None else state0.unsqueeze(2)  # (B, Hkv, 1, Dk, Dv[+1])
    kv_before = exclusive_prefix_sum(kv_per_chunk, dim=3, initial=initial)  # state before each chunk

    scores = (q_c @ k_c.transpose(-1, -2)).tril_()  # (B, Hkv, G, N, C, C), causal within the chunk
    out = (scores @ v_c).add_(q_c @ kv_before)  # (B, Hkv, G, N, C, Dv[+1]); in place: fresh matmul outputs
    if normalize:
        out = out[..., :-1] / (out[..., -1:] + eps / scale)  # = scale·num / (scale·den + eps)

    o = merge_groups(out.flatten(3, 4))[:, :, :time].to(q.dtype)  # (B, Hq, T, Dv)
    if not output_final_state:
        return o, None
    final = kv_before[:, :, 0, -1] + kv_per_chunk[:, :, 0, -1]  # (B, Hkv, Dk, Dv[+1])
    if normalize:
        return o, LinearAttentionState(final[..., :-1], final[..., -1])
    return o, LinearAttentionState(final, None)
