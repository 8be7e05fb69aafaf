"""Helpers for testing attention kernels against their references: values, gradients, inputs.

Used by this package's tests and meant for plugin authors who add a kernel with a naive reference.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch


def assert_close(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Elementwise closeness with a readable failure (max abs error and where); compared on the CPU."""
    got, want = got.detach().float().cpu(), want.detach().float().cpu()
    if got.shape != want.shape:
        raise AssertionError(f"shape {tuple(got.shape)} != {tuple(want.shape)}")
    err = (got - want).abs()
    bound = atol + rtol * want.abs()
    bad = err > bound
    if bad.any():
        raise AssertionError(f"max abs error {err.max().item():.3g} at {tuple(torch.nonzero(bad)[0].tolist())}")


def grads(fn: Callable[[], torch.Tensor], inputs: Sequence[torch.Tensor], seed: int = 1) -> list[torch.Tensor]:
    """Gradients of ``<fn(), r>`` for a fixed random ``r`` with respect to ``inputs``."""
    for x in inputs:
        x.grad = None
    out = fn()
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed)).to(out.device)
    (out.float() * weight).sum().backward()
    result = [x.grad.clone() for x in inputs]
    for x in inputs:
        x.grad = None
    return result


def leaf(*shape: int, positive: bool = False, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A random leaf tensor that requires grad (uniform [0, 1) if ``positive``, else normal)."""
    x = torch.rand(*shape) if positive else torch.randn(*shape)
    return x.to(dtype).requires_grad_(True)
