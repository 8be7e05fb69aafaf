"""Benchmark cases: each builds its inputs and returns the call to time or to measure memory of.

Cases are top-level functions so that :func:`~fastsnn_attention.benchmarks.measure.peak_memory_bytes`
can run them in a fresh process by name (``"fastsnn_attention.benchmarks.cases:linear_fwd_bwd"``).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

from fastsnn_attention.ops.linear import chunk_linear_attn, recurrent_linear_attn
from fastsnn_attention.ops.swa import blockwise_swa, dense_mask_swa

LINEAR_IMPLS = ("chunked", "recurrent")
SWA_IMPLS = ("blockwise", "dense_mask", "sdpa_dense_mask")


def linear_fwd_bwd(impl: str, seq_len: int, heads: int = 8, head_dim: int = 64, batch: int = 1,
                   chunk_size: int = 64, seed: int = 0, device: str = "cpu") -> Callable[[], None]:
    """Normalised linear attention forward + backward on non-negative ``[B, H, T, D]`` inputs."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.rand(batch, heads, seq_len, head_dim, generator=g).to(device).requires_grad_(True)
               for _ in range(3))

    def run() -> None:
        if impl == "chunked":
            o, _ = chunk_linear_attn(q, k, v, normalize=True, chunk_size=chunk_size)
        elif impl == "recurrent":
            o, _ = recurrent_linear_attn(q, k, v, normalize=True)
        else:
            raise ValueError(f"unknown linear impl {impl!r}; use one of {LINEAR_IMPLS}")
        o.sum().backward()
        q.grad = k.grad = v.grad = None

    return run


def linear_flops_fwd_bwd(seq_len: int, heads: int, head_dim: int, batch: int, chunk_size: int) -> float:
    """Matmul FLOPs of the chunked form, forward + backward (backward counted as 2× forward).

    Forward per head: ``Q Kᵀ`` and ``(·) V`` within chunks (``2·T·C·D`` each, full ``C×C``
    blocks), ``Kᵀ V`` per chunk and ``Q S`` (``2·T·D²`` each).
    """
    forward = 2 * seq_len * (2 * chunk_size * head_dim + 2 * head_dim * head_dim)
    return 3.0 * forward * heads * batch


def swa_call(impl: str, seq_len: int, window: int = 512, heads: int = 8, head_dim: int = 64, batch: int = 1,
             backward: bool = False, seed: int = 0, device: str = "cpu") -> Callable[[], None]:
    """Sliding-window attention (forward, or forward + backward) on random ``[B, H, T, D]`` inputs."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, seq_len, head_dim, generator=g).to(device).requires_grad_(backward)
               for _ in range(3))

    def forward() -> torch.Tensor:
        if impl == "blockwise":
            return blockwise_swa(q, k, v, window)
        if impl == "dense_mask":
            return dense_mask_swa(q, k, v, window)
        if impl == "sdpa_dense_mask":  # torch's fused kernel, fed a dense T×T boolean band mask
            pos = torch.arange(seq_len, device=device)
            band = (pos[None, :] <= pos[:, None]) & (pos[None, :] > pos[:, None] - window)
            return F.scaled_dot_product_attention(q, k, v, attn_mask=band)
        raise ValueError(f"unknown swa impl {impl!r}; use one of {SWA_IMPLS}")

    def run() -> None:
        if backward:
            forward().sum().backward()
            q.grad = k.grad = v.grad = None
        else:
            with torch.no_grad():
                forward()

    return run
