"""retention: parallel == naive recurrence (values and gradients), carried state, decode == prefill."""

import pytest
import torch

import fastsnn
from fastsnn import FastSNNError
from fastsnn.config import ModelConfig
from fastsnn.model import build_model
from fastsnn_example import retention_naive, retention_parallel


def random_qkv(B=2, H=3, T=13, dk=6, dv=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, H, T, d, generator=g, dtype=torch.float64) for d in (dk, dk, dv))
    log_decay = torch.log(torch.tensor([0.5, 0.9, 0.99], dtype=torch.float64))
    return q, k, v, log_decay


@pytest.mark.parametrize("T", [1, 7, 13])
def test_parallel_matches_the_recurrence_values_and_gradients(T):
    q, k, v, log_decay = random_qkv(T=T)
    state = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    inputs = [t.clone().requires_grad_(True) for t in (q, k, v, state)]
    out_p, state_p = retention_parallel(*inputs[:3], log_decay, inputs[3])
    (out_p.sum() + state_p.square().sum()).backward()
    grads_p = [t.grad.clone() for t in inputs]
    for t in inputs:
        t.grad = None
    out_n, state_n = retention_naive(*inputs[:3], log_decay, inputs[3])
    (out_n.sum() + state_n.square().sum()).backward()
    assert torch.allclose(out_p, out_n, atol=1e-10) and torch.allclose(state_p, state_n, atol=1e-10)
    for gp, t in zip(grads_p, inputs):
        assert torch.allclose(gp, t.grad, atol=1e-10)


def test_splitting_a_sequence_and_carrying_the_state_is_exact():
    q, k, v, log_decay = random_qkv(T=13)
    whole, _ = retention_parallel(q, k, v, log_decay)
    first, state = retention_parallel(q[:, :, :5], k[:, :, :5], v[:, :, :5], log_decay)
    second, _ = retention_parallel(q[:, :, 5:], k[:, :, 5:], v[:, :, 5:], log_decay, state)
    assert torch.allclose(torch.cat([first, second], dim=2), whole, atol=1e-10)


def make_layer(**params):
    torch.manual_seed(0)
    return fastsnn.create("attention", "retention", d_model=24, n_heads=3, **params)


def test_layer_matches_its_naive_reference():
    layer = make_layer()
    x = torch.randn(2, 11, 24)
    assert torch.allclose(layer(x), layer.naive(x), atol=1e-5)


def test_decode_equals_prefill_token_by_token_and_in_chunks():
    layer = make_layer(head_norm=False)
    x = torch.randn(2, 10, 24)
    full = layer(x)
    cache = layer.init_cache(2)
    steps = [layer(x[:, t : t + 1], cache) for t in range(10)]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    assert cache.seen == 10 and cache.nbytes() == 2 * 3 * 8 * 8 * 4  # O(1) state: B·H·d_k·d_v fp32
    chunked = layer.init_cache(2)
    parts = [layer(x[:, :4], chunked), layer(x[:, 4:9], chunked), layer(x[:, 9:], chunked)]
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)


def test_causal():
    layer = make_layer()
    x = torch.randn(1, 9, 24)
    y = x.clone()
    y[:, 6] += 1.0
    assert torch.allclose(layer(x)[:, :6], layer(y)[:, :6], atol=1e-6)
    assert not torch.allclose(layer(x)[:, 6], layer(y)[:, 6])


def test_spiking_lm_with_retention_and_clipped_neuron_decodes_like_it_prefills():
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=40, d_model=24, n_heads=3, n_layers=2, attention="retention",
                                    neuron={"name": "clipped_sint", "min_count": -8, "max_count": 8}))
    ids = torch.randint(0, 40, (2, 9))
    full = model(ids)
    cache = model.init_cache(2)
    stepwise = torch.cat([model(ids[:, t : t + 1], cache=cache) for t in range(9)], dim=1)
    assert torch.allclose(stepwise, full, atol=1e-4)
    loss = model.loss(ids)
    loss.backward()
    assert model.blocks[0].attn.q_proj.weight.grad.abs().sum() > 0


def test_bad_inputs():
    with pytest.raises(FastSNNError, match=r"n_heads \(5\) must divide d_model \(24\)"):
        fastsnn.create("attention", "retention", d_model=24, n_heads=5)
    with pytest.raises(FastSNNError, match=r"min_decay \(0.9\) must not exceed max_decay \(0.8\)"):
        fastsnn.create("attention", "retention", d_model=24, n_heads=3, min_decay=0.9, max_decay=0.8)
    with pytest.raises(FastSNNError, match="max_decay: Input should be less than 1"):
        fastsnn.create("attention", "retention", d_model=24, n_heads=3, max_decay=1.0)
    # the checks below are core's (AttentionBase.forward), which the layer inherits
    layer = make_layer()
    with pytest.raises(FastSNNError, match=r"cache was made for batch size 2 but the input has batch size 3; "
                                           r"make a new cache with init_cache\(3\)"):
        layer(torch.randn(3, 4, 24), layer.init_cache(2))
    with pytest.raises(FastSNNError, match=r"input must be \[batch, time, d_model\], got \(4, 24\)"):
        layer(torch.randn(4, 24))
    with pytest.raises(FastSNNError, match="was made by another layer"):
        layer(torch.randn(2, 4, 24), make_layer().init_cache(2))


def test_a_cache_fed_twice_with_the_same_tokens_advances_once_per_call():
    layer = make_layer()
    cache = layer.init_cache(1)
    layer(torch.randn(1, 3, 24), cache)
    layer(torch.randn(1, 2, 24), cache)
    assert cache.seen == 5, "core advances cache.seen after mix(); the layer never touches it"


def test_bounded_length_is_enforced_by_core():
    layer = fastsnn.create("attention", "retention", d_model=24, n_heads=3, max_seq_len=4)
    cache = layer.init_cache(1)
    layer(torch.randn(1, 3, 24), cache)
    with pytest.raises(FastSNNError, match=r"sequence too long: 3 cached \+ 2 new tokens > max_seq_len=4"):
        layer(torch.randn(1, 2, 24), cache)
