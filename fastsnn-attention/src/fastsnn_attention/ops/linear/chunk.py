"""Chunkwise-parallel linear attention (the training form), with a hand-written backward.

For a chunk ``n`` of ``C`` tokens with queries ``Q``, keys ``K``, values ``V`` (feature maps
already applied) and the state ``S`` of all earlier chunks::

    A_n = tril(Q_n K_nᵀ)      O_n = A_n V_n + Q_n S_{n-1}      S_n = S_{n-1} + K_nᵀ V_n

and, when normalising, the denominators ``d_n = A_n 1 + Q_n z_{n-1}`` with ``z_n = z_{n-1} + K_nᵀ 1``.
All chunks are computed at once as batched matmuls over ``[B, Hkv, N, G·C, D]`` tiles: the ``G``
query heads that share a key/value head are stacked along the rows, so one matmul serves the
whole group, and no key, value or state is ever copied per query head. The states before each
chunk come from an exclusive prefix sum (an in-place loop over the ``N`` chunks, several times
faster on CPU than ``cumsum`` along a non-innermost axis).

:class:`ChunkLinearAttention` writes the backward out (eight matmuls per chunk, the same tiles),
instead of letting autograd record the forward's reshapes, paddings, masks, broadcasts and the
per-chunk prefix sum: on a 2-core CPU that took fwd+bwd from 33% to over 40% of the measured
matmul peak at ``C = 64`` (BENCHMARKS.md, "Attention kernels"). States and accumulation are fp32
whatever the input dtype; the output has the input dtype.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from fastsnn.errors import FastSNNError
from fastsnn_attention.ops.groups import check_qkv
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


#: query rows (heads × tokens) per block of :class:`ChunkLinearAttention`: a block's tiles then stay
#: in the CPU's caches (on a 2-core EPYC at T=8192, H=8, D=64 unblocked ran at half the speed)
BLOCK_ROWS = 8192


def _blocks(heads: int, n_chunks: int, rows: int) -> list[tuple[int, int, int, int]]:
    """``(x0, x1, n0, n1)`` blocks of about :data:`BLOCK_ROWS` query rows, each a contiguous slice
    ``t[x0:x1, n0:n1]`` of an ``[X, N, ...]`` tensor: several whole heads, or a run of chunks of one."""
    per_head = n_chunks * rows
    if per_head <= BLOCK_ROWS:
        step = max(1, BLOCK_ROWS // per_head)
        return [(x0, min(x0 + step, heads), 0, n_chunks) for x0 in range(0, heads, step)]
    step = max(1, BLOCK_ROWS // rows)
    return [(x, x + 1, n0, min(n0 + step, n_chunks)) for x in range(heads) for n0 in range(0, n_chunks, step)]


#: chunks per segment of :func:`_exclusive_scan` (one triangular matmul per segment)
SCAN_SEGMENT = 32


def _exclusive_scan(x: torch.Tensor, initial: torch.Tensor | None, reverse: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Along dim 1 of ``x [X, N, ...]``: ``y_n = initial + Σ_{m<n} x_m`` (``Σ_{m>n}`` when ``reverse``),
    and the total ``initial + Σ_m x_m``. ``initial [X, ...]`` or zeros.

    Segments of :data:`SCAN_SEGMENT` steps are each one matmul with a strictly triangular 0/1
    matrix, the running total carried between segments: a handful of large operations instead of
    one per step (each a wake-up of the OpenMP threads, costly under ``OMP_WAIT_POLICY=PASSIVE``),
    and several times faster than ``torch.cumsum`` along a non-innermost axis on CPU.
    """
    heads, steps = x.shape[:2]
    flat = x.reshape(heads, steps, -1)  # (X, N, F)
    out = torch.empty_like(flat)
    size = min(SCAN_SEGMENT, steps)
    ones = torch.ones(size, size, dtype=x.dtype, device=x.device)
    triangle = ones.triu(1) if reverse else ones.tril(-1)  # y_i = Σ_{j<i} x_j (Σ_{j>i} reversed)
    running = None if initial is None else initial.reshape(heads, -1).to(x.dtype)
    starts = list(range(0, steps, size))
    edge = 0 if reverse else -1
    for s0 in reversed(starts) if reverse else starts:
        s1 = min(s0 + size, steps)
        tri = triangle[: s1 - s0, : s1 - s0] if not reverse else triangle[size - (s1 - s0):, size - (s1 - s0):]
        segment = flat[:, s0:s1]
        if len(starts) == 1:  # the whole scan in one matmul, written in place
            scanned = torch.matmul(tri, segment, out=out)
        else:
            scanned = tri @ segment
        if running is not None:
            scanned.add_(running.unsqueeze(1))  # (X, s, F)
        if len(starts) > 1:
            out[:, s0:s1] = scanned
        running = scanned[:, edge] + segment[:, edge]
    return out.view_as(x), running.view_as(x[:, 0])


def _bmm_(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``out += a @ b`` in one operation, for contiguous-batch ``[..., M, K] @ [..., K, N]`` views."""
    out.view(-1, *out.shape[-2:]).baddbmm_(a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:]))
    return out


class ChunkLinearAttention(torch.autograd.Function):
    """Chunked (normalised) linear attention on prepared fp32 tiles, with its backward.

    Inputs: ``q [X, N, G·C, Dk]`` (``X = B·Hkv``; already scaled when not normalising),
    ``k [X, N, C, Dk]``, ``v [X, N, C, Dv']``, optional initial state ``s0 [X, Dk, Dv']``,
    ``normalize``, ``eps``, ``groups`` ``G``; all contiguous. When normalising, the last of the
    ``Dv'`` value columns is ones: the same matmuls then carry the key sum ``z`` (last state
    column) and the denominators (last output column), and their gradients. Returns
    ``o [X, N, G·C, Dv]`` (``Dv = Dv' − 1`` when normalising) and the final state ``[X, Dk, Dv']``.

    The states before every chunk (and, backward, the suffix sums of their gradients) are scanned
    once over all heads (:func:`_exclusive_scan`); the per-chunk tiles are then computed block by
    block (:func:`_blocks`), each block a contiguous slice small enough to stay in cache. The
    backward is written out: eight matmuls per block on the same tiles, no autograd graph of
    reshapes, masks and sums. Few, large operations matter on CPU: with
    ``OMP_WAIT_POLICY=PASSIVE`` each parallel operation pays a thread wake-up.
    """

    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, s0: torch.Tensor | None,
                normalize: bool, eps: float, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
        heads, n_chunks, rows, _ = q.shape
        chunk, width = k.shape[2], v.shape[-1]
        blocks = _blocks(heads, n_chunks, rows)
        s_before, s_final = _exclusive_scan(k.transpose(-1, -2) @ v, s0)  # (X, N, Dk, Dv'), (X, Dk, Dv')
        num = q.new_empty(heads, n_chunks, rows, width)
        scores_blocks = []
        for x0, x1, n0, n1 in blocks:
            q_b, k_b = q[x0:x1, n0:n1], k[x0:x1, n0:n1]
            scores = q_b @ k_b.transpose(-1, -2)  # (xb, nb, G·C, C)
            scores.view(x1 - x0, n1 - n0, groups, chunk, chunk).tril_()  # causal within the chunk, per query head
            torch.matmul(scores, v[x0:x1, n0:n1], out=num[x0:x1, n0:n1])  # (xb, nb, G·C, Dv')
            _bmm_(num[x0:x1, n0:n1], q_b, s_before[x0:x1, n0:n1])
            scores_blocks.append(scores)
        if normalize:
            den = num[..., -1:].add_(eps)  # (X, N, G·C, 1), a view: the denominators
            out = num[..., :-1] / den
            saved = [q, k, v, s_before, den, out]
        else:
            out = num
            saved = [q, k, v, s_before]
        # everything through save_for_backward (unpacked once), so activation checkpointing can drop it
        ctx.save_for_backward(*saved, *scores_blocks)
        ctx.normalize, ctx.groups, ctx.blocks, ctx.has_s0 = normalize, groups, blocks, s0 is not None
        return out, s_final

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor, grad_state: torch.Tensor | None) -> tuple[Any, ...]:
        saved = ctx.saved_tensors  # unpack once
        groups, normalize = ctx.groups, ctx.normalize
        fixed = 6 if normalize else 4
        scores_blocks = saved[fixed:]
        chunk = saved[1].shape[2]
        if normalize:
            q, k, v, s_before, den, out = saved[:fixed]
            # o = num / den: d num = g / den, d den = −Σ_v g·o / den, as one more value column
            g = q.new_empty(*out.shape[:-1], out.shape[-1] + 1)
            torch.div(grad_out, den, out=g[..., :-1])
            torch.sum(g[..., :-1] * out, -1, keepdim=True, out=g[..., -1:]).neg_()
        else:
            q, k, v, s_before = saved[:fixed]
            g = grad_out.contiguous()
        # A chunk's own contribution K_nᵀV_n reaches the state of every later chunk and the final
        # state: its gradient is the suffix sum of the gradients of the states before chunks.
        g_chunk, g_s0 = _exclusive_scan(q.transpose(-1, -2) @ g, grad_state, reverse=True)  # (X, N, Dk, Dv')
        grad_q, grad_k, grad_v = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        for (x0, x1, n0, n1), scores in zip(ctx.blocks, scores_blocks, strict=True):
            q_b, k_b, v_b, g_b, g_chunk_b = (t[x0:x1, n0:n1] for t in (q, k, v, g, g_chunk))
            g_scores = g_b @ v_b.transpose(-1, -2)  # (xb, nb, G·C, C); the ones column adds d den to every column
            g_scores.view(x1 - x0, n1 - n0, groups, chunk, chunk).tril_()
            g_q = torch.matmul(g_b, s_before[x0:x1, n0:n1].transpose(-1, -2), out=grad_q[x0:x1, n0:n1])
            _bmm_(g_q, g_scores, k_b)
            g_k = torch.matmul(g_scores.transpose(-1, -2), q_b, out=grad_k[x0:x1, n0:n1])  # sums the G heads
            _bmm_(g_k, v_b, g_chunk_b.transpose(-1, -2))  # with the ones column: also the key sums' gradient
            g_v = torch.matmul(scores.transpose(-1, -2), g_b, out=grad_v[x0:x1, n0:n1])
            _bmm_(g_v, k_b, g_chunk_b)
        return grad_q, grad_k, grad_v, (g_s0 if ctx.has_s0 else None), None, None, None


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
    :returns: ``o [B, Hq, T, Dv]`` in ``q``'s dtype and the final state (or ``None``). Gradients
        flow to ``q``, ``k``, ``v``, the initial state and from the final state.
    """
    n_kv_heads, groups = check_qkv(q, k, v, what="chunk_linear_attn")
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

    # Queries as [B·Hkv, N, G·C, Dk]: the G heads of a group stacked along the rows of each chunk.
    q_c = chunked(q).view(batch, n_kv_heads, groups, n_chunks, chunk_size, key_dim).transpose(2, 3)
    q_c = q_c.reshape(batch * n_kv_heads, n_chunks, groups * chunk_size, key_dim)
    if not normalize:  # normalised, the scale cancels except against eps: divide eps by it instead
        q_c = q_c * scale
    q_c = q_c.contiguous()
    k_c, v_c = (chunked(x).flatten(0, 1) for x in (k, v))  # (B·Hkv, N, C, D)
    s0 = None
    if initial_state is not None:
        s0 = initial_state.kv.float().flatten(0, 1)  # (B·Hkv, Dk, Dv)
        if normalize:
            s0 = torch.cat([s0, initial_state.z.float().flatten(0, 1).unsqueeze(-1)], dim=-1)  # (B·Hkv, Dk, Dv+1)
    if normalize:
        # A ones column appended to the values: the same matmuls then also give the key sum z
        # (state column Dv) and the denominators (output column Dv).
        v_c = torch.cat([v_c, torch.ones_like(v_c[..., :1])], dim=-1)  # (B·Hkv, N, C, Dv+1)
    out, final = ChunkLinearAttention.apply(q_c, k_c.contiguous(), v_c.contiguous(), s0, normalize,
                                            eps / scale if normalize else 0.0, groups)
    value_dim = v.shape[-1]
    o = out.view(batch, n_kv_heads, n_chunks, groups, chunk_size, value_dim).transpose(2, 3)
    o = o.reshape(batch, n_kv_heads * groups, n_chunks * chunk_size, value_dim)[:, :, :time].to(q.dtype)
    final = final.view(batch, n_kv_heads, *final.shape[1:])  # (B, Hkv, Dk, Dv[+1])
    if not output_final_state:
        return o, None
    if normalize:
        return o, LinearAttentionState(final[..., :-1], final[..., -1])
    return o, LinearAttentionState(final, None)
