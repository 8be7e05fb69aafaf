"""fp16/bf16 norms against fp32: the mean square / variance is accumulated in fp32 and the result
cast back to the input's dtype (issue 8 §6)."""

from __future__ import annotations

import copy

import pytest
import torch

import fastsnn

HALF = pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
NORMS = pytest.mark.parametrize("name", ["rmsnorm", "layernorm"])


def llm_activations(*shape: int) -> torch.Tensor:
    """Residual-stream-like activations (fp32): O(1) with massive channels of 1,000 and −400."""
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 2
    x[..., 3] = 1000.0
    x[..., 40] = -400.0
    return x


@HALF
@NORMS
def test_norm_of_wide_large_tokens_matches_fp32(dtype: torch.dtype, name: str) -> None:
    # x² reaches 10⁶ (beyond fp16) and Σx² over 11,008 channels beyond bf16's digits
    norm = fastsnn.create("norm", name, dim=11008)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(11008, generator=torch.Generator().manual_seed(1)) + 0.5)
    low = copy.deepcopy(norm).to(dtype)
    x = llm_activations(4, 11008).to(dtype)
    got, want = low(x), copy.deepcopy(low).float()(x.float())
    assert got.dtype == dtype and torch.isfinite(got).all()
    error = (got.float() - want).abs().max().item()
    assert error <= torch.finfo(dtype).eps * want.abs().max().item()  # one ulp at the largest output


@HALF
def test_rmsnorm_of_a_token_of_sixes_is_one(dtype: torch.dtype) -> None:
    norm = fastsnn.create("norm", "rmsnorm", dim=11008).to(dtype)
    out = norm(torch.full((2, 11008), 6.0, dtype=dtype))
    assert out.dtype == dtype
    assert out.unique().tolist() == [1.0]


@HALF
def test_layernorm_of_plus_minus_300_is_plus_minus_one(dtype: torch.dtype) -> None:
    norm = fastsnn.create("norm", "layernorm", dim=4096).to(dtype)
    x = torch.tensor([300.0, -300.0]).repeat(2048).to(dtype)  # variance 90,000 > 65,504
    out = norm(x)
    assert out.dtype == dtype
    assert torch.equal(out, (x / 300).to(dtype))
