"""The kernels, layers and model on a CUDA device, against the naive references (CPU-only CI skips these)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import fastsnn
from fastsnn.config import ModelConfig
from fastsnn.model import build_model
from fastsnn_attention.ops.gla import MIN_LOG_DECAY, chunk_gla, naive_parallel_gla
from fastsnn_attention.ops.linear import chunk_linear_attn, naive_parallel_linear_attn
from fastsnn_attention.ops.softmax import causal_softmax_attn, naive_softmax_attn
from fastsnn_attention.ops.swa import blockwise_swa, dense_mask_swa
from fastsnn_attention.testing import assert_close, grads

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = "cuda"


def cuda_leaf(*shape: int, positive: bool = False, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    x = torch.rand(*shape) if positive else torch.randn(*shape)
    return x.to(CUDA, dtype).requires_grad_(True)


@pytest.fixture(autouse=True)
def _exact_matmuls():
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # compare fp32 with fp32
    yield
    torch.backends.cuda.matmul.allow_tf32 = previous


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("chunk_size", [16, 64])
def test_linear_chunked_matches_naive_on_cuda(normalize, chunk_size):
    q, k, v = cuda_leaf(2, 4, 63, 60, positive=True), cuda_leaf(2, 2, 63, 60, positive=True), cuda_leaf(2, 2, 63, 36)
    assert_close(chunk_linear_attn(q, k, v, normalize=normalize, chunk_size=chunk_size)[0],
                 naive_parallel_linear_attn(q, k, v, normalize=normalize))
    got = grads(lambda: chunk_linear_attn(q, k, v, normalize=normalize, chunk_size=chunk_size)[0], (q, k, v))
    want = grads(lambda: naive_parallel_linear_attn(q, k, v, normalize=normalize), (q, k, v))
    for g, w in zip(got, want):
        assert_close(g, w, rtol=1e-3, atol=1e-4)


def test_linear_bf16_on_cuda_keeps_fp32_state():
    q, k, v = (cuda_leaf(2, 4, 200, 64, positive=True, dtype=torch.bfloat16) for _ in range(3))
    out, state = chunk_linear_attn(q, k, v, normalize=True, output_final_state=True)
    assert out.dtype == torch.bfloat16 and state.kv.dtype == torch.float32 and state.kv.is_cuda
    assert_close(out, naive_parallel_linear_attn(q.float(), k.float(), v.float(), normalize=True), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("strong_decay", [False, True])
def test_gla_chunked_matches_naive_on_cuda(strong_decay):
    q, k, v = cuda_leaf(2, 4, 63, 60, positive=True), cuda_leaf(2, 2, 63, 60, positive=True), cuda_leaf(2, 2, 63, 36)
    g = F.logsigmoid(torch.randn(2, 2, 63, 60, device=CUDA) * 3).clamp_min(MIN_LOG_DECAY)
    if strong_decay:
        g = torch.full_like(g, MIN_LOG_DECAY)
    g.requires_grad_(True)
    assert_close(chunk_gla(q, k, v, g, chunk_size=32)[0], naive_parallel_gla(q, k, v, g))
    got = grads(lambda: chunk_gla(q, k, v, g, chunk_size=32)[0], (q, k, v, g))
    want = grads(lambda: naive_parallel_gla(q, k, v, g), (q, k, v, g))
    for x, w in zip(got, want):
        assert_close(x, w, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("window", [1, 7, 64])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_swa_blockwise_matches_dense_mask_on_cuda(window, dtype):
    q, k, v = (cuda_leaf(2, 4, 63, 64, dtype=dtype) for _ in range(3))
    tol = 1e-4 if dtype == torch.float32 else 3e-2
    assert_close(blockwise_swa(q, k, v, window), dense_mask_swa(q.float(), k.float(), v.float(), window),
                 rtol=tol, atol=tol)


def test_softmax_with_prefix_matches_naive_on_cuda():
    q, k, v = cuda_leaf(2, 4, 20, 64), cuda_leaf(2, 2, 29, 64), cuda_leaf(2, 2, 29, 64)
    assert_close(causal_softmax_attn(q, k, v, prefix_len=9), naive_softmax_attn(q, k, v, prefix_len=9),
                 rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("layout", ["hybrid_alt", "hybrid_par", "gla", "softmax"])
def test_model_decode_equals_prefill_on_cuda(layout):
    attention = {"hybrid_alt": {"name": "hybrid_alt", "swa": {"name": "swa", "window": 4}},
                 "hybrid_par": {"name": "hybrid_par", "swa": {"name": "swa", "window": 4}}}.get(layout, layout)
    config = ModelConfig(vocab_size=61, d_model=64, n_layers=2, n_heads=4, max_seq_len=64, attention=attention,
                         ffn="pulse", neuron="test_round")
    model = build_model(config).to(CUDA).eval()
    ids = torch.randint(0, 61, (2, 24), device=CUDA)
    with torch.no_grad():
        full = model(ids)
        cache = model.init_cache(2)
        steps = [model(ids[:, :10], cache=cache)] + [model(ids[:, t : t + 1], cache=cache) for t in range(10, 24)]
    assert_close(torch.cat(steps, dim=1), full, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", ["linear", "gla", "swa", "softmax", "hybrid_par"])
def test_layers_on_cuda_match_cpu(name):
    torch.manual_seed(0)
    layer = fastsnn.create("attention", name, d_model=64, n_heads=4, max_seq_len=64)
    x = torch.randn(2, 33, 64)
    want = layer(x)
    assert_close(layer.to(CUDA)(x.to(CUDA)), want, rtol=1e-4, atol=1e-5)
