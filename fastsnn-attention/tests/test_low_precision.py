"""fp16/bf16 attention kernels and layers against fp32: scores, sums, states and normalisers
accumulate in fp32 and are cast back to the input's dtype (issue 8 §6).

Each low-precision result is compared with the fp32 computation on the same (already rounded)
inputs, so the tolerance only covers the rounding of the result to the dtype: ``eps · max|want|``
(one unit in the last place of the largest output) unless a test says otherwise.
"""

from __future__ import annotations

import copy

import pytest
import torch

import fastsnn
from fastsnn_attention.ops.gla import chunk_gla, recurrent_gla
from fastsnn_attention.ops.linear import chunk_linear_attn, recurrent_linear_attn
from fastsnn_attention.ops.softmax import causal_softmax_attn
from fastsnn_attention.ops.swa import blockwise_swa, ring_swa_step

HALF = pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])


def assert_within_ulps(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype, ulps: float = 1.0) -> None:
    """``|got − want| ≤ ulps · eps(dtype) · max|want|`` everywhere, ``got`` finite and of ``dtype``."""
    assert got.dtype == dtype
    assert torch.isfinite(got).all(), f"{(~torch.isfinite(got)).sum().item()} non-finite values"
    error = (got.float() - want.float()).abs().max().item()
    bound = ulps * torch.finfo(dtype).eps * want.float().abs().max().item()
    assert error <= bound, f"max abs error {error:.3g} > {bound:.3g}"


def randn(*shape: int, scale: float = 1.0, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def qkv_with_an_outlier_channel(batch: int, n_heads: int, n_kv_heads: int, time: int, dim: int) -> tuple[torch.Tensor, ...]:
    """q, k, v (fp32) whose channel 5 carries a massive activation (q: 300, k: up to 300), so that
    unscaled scores q·k reach 9·10⁴ > 65,504 (fp16's largest) and a bf16 score is off by ~350."""
    q, k, v = randn(batch, n_heads, time, dim, scale=2), randn(batch, n_kv_heads, time, dim, scale=2, seed=1), \
        randn(batch, n_kv_heads, time, dim, scale=3, seed=2)
    q[..., 5] = 300.0
    k[..., 5] = 300.0 * torch.rand(batch, n_kv_heads, time, generator=torch.Generator().manual_seed(3))
    return q, k, v


# -- sliding-window decoding: scores of the ring ------------------------------------------------------
@HALF
@pytest.mark.parametrize("n_valid", [256, 100])
def test_ring_swa_step_scores_do_not_overflow(dtype: torch.dtype, n_valid: int) -> None:
    # before: q·k in the input dtype (fp16: inf → NaN output; bf16: scores off by hundreds)
    q, k, v = (t.to(dtype) for t in qkv_with_an_outlier_channel(2, 8, 2, 256, 64))
    got = ring_swa_step(q[:, :, -1:], k, v, n_valid)
    want = ring_swa_step(q[:, :, -1:].float(), k.float(), v.float(), n_valid)
    assert got.shape == (2, 8, 1, 64)
    assert_within_ulps(got, want, dtype)


@HALF
def test_ring_swa_step_matches_blockwise_prefill(dtype: torch.dtype) -> None:
    # decode == prefill in low precision: both accumulate in fp32
    window = 64
    q, k, v = (t.to(dtype) for t in qkv_with_an_outlier_channel(1, 4, 2, 300, 32))
    prefill = blockwise_swa(q, k, v, window)
    ring_k, ring_v = k[:, :, -window:], v[:, :, -window:]  # positions 236…299: slot order does not matter
    decode = ring_swa_step(q[:, :, -1:], ring_k, ring_v, window)
    assert_within_ulps(decode, prefill[:, :, -1:].float(), dtype)


# -- every kernel, prefill and decode, against fp32 -----------------------------------------------------
def _softmax_prefill(q, k, v):
    return causal_softmax_attn(q, k, v)


def _softmax_decode(q, k, v):
    return causal_softmax_attn(q[:, :, -1:], k, v, prefix_len=k.shape[2] - 1)


def _swa_prefill(q, k, v):
    return blockwise_swa(q, k, v, 512)


def _linear_chunk(q, k, v):
    return chunk_linear_attn(q.relu(), k.relu(), v, normalize=True)[0]


def _linear_recurrent(q, k, v):  # decoding the last 16 tokens from the chunked state of the others
    _, state = chunk_linear_attn(q[:, :, :-16].relu(), k[:, :, :-16].relu(), v[:, :, :-16], normalize=True,
                                 output_final_state=True)
    return recurrent_linear_attn(q[:, :, -16:].relu(), k[:, :, -16:].relu(), v[:, :, -16:], normalize=True,
                                 initial_state=state)[0]


def _gates(k):
    return torch.nn.functional.logsigmoid(randn(*k.shape, scale=3, seed=4)).div(16).to(k.dtype)


def _gla_chunk(q, k, v):
    return chunk_gla(q.relu() * 0.1, k.relu() * 0.1, v, _gates(k))[0]


def _gla_recurrent(q, k, v):
    g = _gates(k)
    _, state = chunk_gla(q[:, :, :-16].relu() * 0.1, k[:, :, :-16].relu() * 0.1, v[:, :, :-16], g[:, :, :-16],
                         output_final_state=True)
    return recurrent_gla(q[:, :, -16:].relu() * 0.1, k[:, :, -16:].relu() * 0.1, v[:, :, -16:], g[:, :, -16:],
                         initial_state=state)[0]


KERNELS = {
    "softmax-prefill": _softmax_prefill,
    "softmax-decode": _softmax_decode,
    "swa-blockwise": _swa_prefill,
    "linear-chunk": _linear_chunk,
    "linear-recurrent": _linear_recurrent,
    "gla-chunk": _gla_chunk,
    "gla-recurrent": _gla_recurrent,
}


@HALF
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_kernels_match_fp32_on_long_sequences(dtype: torch.dtype, kernel: str) -> None:
    # T = 2048 keys per sum, GQA, q/k with a mean direction (correlated, large scores) and values ~30
    fn = KERNELS[kernel]
    direction = randn(1, 1, 1, 64, scale=3, seed=5)
    q = (randn(1, 4, 2048, 64, scale=2) + direction).to(dtype)
    k = (randn(1, 2, 2048, 64, scale=2, seed=1) + direction).to(dtype)
    v = randn(1, 2, 2048, 64, scale=30, seed=2).to(dtype)
    assert_within_ulps(fn(q, k, v), fn(q.float(), k.float(), v.float()), dtype)


@HALF
def test_unnormalised_linear_state_is_kept_in_fp32(dtype: torch.dtype) -> None:
    # Σ k_sᵀ v_s over 2,048 tokens reaches ~2·10⁵ (beyond fp16), the output q·S stays ~10³
    q = randn(1, 2, 2048, 64, seed=6).abs().mul(0.01).to(dtype)
    k, v = (randn(1, 2, 2048, 64, seed=s).abs().mul(10).to(dtype) for s in (7, 8))
    out, state = chunk_linear_attn(q, k, v, output_final_state=True)
    want, want_state = chunk_linear_attn(q.float(), k.float(), v.float(), output_final_state=True)
    assert state.kv.dtype == torch.float32 and state.kv.abs().max() > 65504
    torch.testing.assert_close(state.kv, want_state.kv, rtol=1e-5, atol=0)
    assert_within_ulps(out, want, dtype)
    step, step_state = recurrent_linear_attn(q[:, :, -1:], k[:, :, -1:], v[:, :, -1:], initial_state=state)
    assert step_state.kv.dtype == torch.float32
    assert_within_ulps(step, recurrent_linear_attn(q[:, :, -1:].float(), k[:, :, -1:].float(), v[:, :, -1:].float(),
                                                   initial_state=want_state)[0], dtype)


# -- layers: normalisers see fp32 sums --------------------------------------------------------------------
LAYERS = [  # name, params, input scale
    ("gla", {}, 30.0),
    ("linear", {"norm": "rmsnorm"}, 30.0),
    ("linear", {"norm": "rmsnorm", "feature_map": "relu2"}, 30.0),
    ("linear", {"norm": "z", "feature_map": "relu2"}, 300.0),
    ("swa", {"window": 128}, 3.0),
    ("softmax", {}, 3.0),
]


@HALF
@pytest.mark.parametrize("name,params,scale", LAYERS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LAYERS)])
def test_layers_on_large_activations_are_finite_and_match_fp32(dtype: torch.dtype, name: str, params: dict,
                                                               scale: float) -> None:
    # inputs ~30: GLA's and linear attention's raw sums q·S reach ~10⁵–10⁶ before their RMSNorm
    # (before: inf in fp16, NaN after the norm); inputs ~300: relu² features of q reach ~10⁶.
    # Softmax layers get ~3: with larger scores the rounding of q and k to the dtype (not done in
    # the fp32 reference) moves a peaked softmax by more than the output's rounding.
    torch.manual_seed(0)
    layer = fastsnn.create("attention", name, d_model=256, n_heads=4, max_seq_len=512, **params).to(dtype)
    reference = copy.deepcopy(layer).float()  # the same (rounded) weights, in fp32
    x = (randn(1, 512, 256, scale=scale, seed=9) + scale / 2).to(dtype)
    with torch.no_grad():
        got, want = layer(x), reference(x.float())
        cache = layer.init_cache(1, dtype=dtype)
        layer(x[:, :-1], cache)
        step = layer(x[:, -1:], cache)
    # q, k are rounded to the dtype in the layer but not in the fp32 reference: a few ulps more
    assert_within_ulps(got, want, dtype, ulps=8)
    assert_within_ulps(step, want[:, -1:], dtype, ulps=8)


@HALF
def test_rope_rotates_in_fp32_at_long_positions(dtype: torch.dtype) -> None:
    rope = fastsnn.create("attention", "swa", d_model=256, n_heads=4).rope
    x = randn(1, 4, 64, 64, scale=100).to(dtype)
    for offset in (0, 4000):
        assert_within_ulps(rope(x, offset), rope(x.float(), offset), dtype)
