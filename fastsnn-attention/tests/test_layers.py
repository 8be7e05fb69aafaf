"""Attention layers through the registry: decode == prefill, caches, GQA, bf16, and every bad input."""

from __future__ import annotations

import pytest
import torch

import fastsnn
from fastsnn import AttentionBase, FastSNNError
from fastsnn_attention.layers import HybridParallelCache
from fastsnn_attention.testing import assert_close, grads, leaf

D_MODEL, HEADS = 48, 4
KERNELS = {
    "linear": {},
    "linear_rmsnorm_identity": {"name": "linear", "feature_map": "identity", "norm": "rmsnorm", "chunk_size": 16},
    "linear_gqa_elu1": {"name": "linear", "feature_map": "elu1", "n_kv_heads": 2, "chunk_size": 8},
    "gla": {"chunk_size": 16},
    "gla_gqa_no_gate": {"name": "gla", "n_kv_heads": 1, "output_gate": False, "chunk_size": 32},
    "swa": {"window": 7},
    "swa_gqa_blocks": {"name": "swa", "window": 5, "n_kv_heads": 2, "block_size": 3},
    "softmax": {},
    "softmax_gqa": {"name": "softmax", "n_kv_heads": 1},
    "hybrid_par": {"swa": {"name": "swa", "window": 6}},
    "hybrid_par_concat": {"name": "hybrid_par", "mix": "concat", "linear": {"name": "gla", "chunk_size": 16},
                          "swa": {"name": "swa", "window": 4}},
}


def make(key: str, max_seq_len: int = 64, d_model: int = D_MODEL, n_heads: int = HEADS, **extra):
    params = {**KERNELS.get(key, {}), **extra}
    name = params.pop("name", key)
    return fastsnn.create("attention", name, d_model=d_model, n_heads=n_heads, layer_idx=0, max_seq_len=max_seq_len,
                          **params)


@pytest.mark.parametrize("key", sorted(KERNELS))
def test_decode_and_chunked_prefill_equal_the_full_forward(key):
    layer = make(key)
    x = torch.randn(2, 41, D_MODEL)
    full = layer(x)
    cache = layer.init_cache(2)
    pieces = [layer(x[:, :13], cache), layer(x[:, 13:14], cache), layer(x[:, 14:30], cache)]
    pieces += [layer(x[:, t : t + 1], cache) for t in range(30, 41)]
    assert cache.seen == 41
    if isinstance(cache, HybridParallelCache):  # each branch's own forward advanced its cache once per call
        assert cache.linear.seen == cache.swa.seen == 41
    assert_close(torch.cat(pieces, dim=1), full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("key", sorted(KERNELS))
def test_layers_write_only_the_mixing_and_the_base_does_the_bookkeeping(key):
    layer = make(key)
    assert type(layer).forward is AttentionBase.forward  # no layer overrides the template method
    x = torch.randn(1, 6, D_MODEL)
    cache = layer.init_cache(1)
    layer.mix(x, cache, 0)
    assert cache.seen == 0  # mix never advances the cache ...
    fresh = layer.init_cache(1)
    layer(x, fresh)
    layer(x[:, :1], fresh)
    assert fresh.seen == 7  # ... forward does, once per call


@pytest.mark.parametrize("key", sorted(KERNELS))
def test_layers_are_causal_and_differentiable(key):
    layer = make(key)
    x = torch.randn(1, 30, D_MODEL, requires_grad=True)
    out = layer(x)
    changed = x.detach().clone()
    changed[:, 20] += 1.0
    assert_close(layer(changed)[:, :20], out[:, :20], rtol=0, atol=1e-6)
    out.square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in layer.parameters() if p.requires_grad)


@pytest.mark.parametrize("key", ["linear", "gla", "linear_gqa_elu1"])
def test_linear_caches_have_constant_size(key):
    layer = make(key, max_seq_len=200)
    cache = layer.init_cache(1)
    before = cache.nbytes()
    layer(torch.randn(1, 150, D_MODEL), cache)
    assert cache.nbytes() == before > 0


def test_gqa_shrinks_the_linear_state():
    full, grouped = make("linear").init_cache(1), make("linear_gqa_elu1").init_cache(1)
    assert grouped.nbytes() * 2 == full.nbytes()


def test_swa_cache_is_a_ring_of_window_slots_and_softmax_cache_grows():
    swa, softmax = make("swa", max_seq_len=200), make("softmax", max_seq_len=200)
    swa_cache, softmax_cache = swa.init_cache(1), softmax.init_cache(1)
    sizes = []
    for length in (10, 100):
        x = torch.randn(1, length, D_MODEL)
        swa(x, swa_cache)
        softmax(x, softmax_cache)
        sizes.append((swa_cache.nbytes(), softmax_cache.nbytes()))
    head_dim = D_MODEL // HEADS
    assert sizes[0][0] == sizes[1][0] == 2 * HEADS * 7 * head_dim * 4  # k and v, W=7 slots, fp32
    assert sizes[1][1] == 2 * HEADS * 110 * head_dim * 4
    assert softmax_cache.capacity_nbytes() >= softmax_cache.nbytes()


def test_bf16_layers_keep_fp32_recurrent_states():
    layer = make("linear").to(torch.bfloat16)
    cache = layer.init_cache(1, dtype=torch.bfloat16)
    out = layer(torch.randn(1, 9, D_MODEL, dtype=torch.bfloat16), cache)
    assert out.dtype == torch.bfloat16 and cache.kv.dtype == cache.z.dtype == torch.float32
    gla = make("gla").to(torch.bfloat16)
    gla_cache = gla.init_cache(1, dtype=torch.bfloat16)
    gla(torch.randn(1, 9, D_MODEL, dtype=torch.bfloat16), gla_cache)
    assert gla_cache.state.dtype == torch.float32
    swa = make("swa").to(torch.bfloat16)
    swa_cache = swa.init_cache(1, dtype=torch.bfloat16)
    assert swa(torch.randn(1, 9, D_MODEL, dtype=torch.bfloat16), swa_cache).dtype == torch.bfloat16


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [0, -3])
def test_window_must_be_positive(window):
    with pytest.raises(FastSNNError, match=r"bad parameters for attention 'swa'.*\n  window: Input should be greater than 0"):
        make("swa", window=window)


@pytest.mark.parametrize("name", ["linear", "gla", "swa", "softmax", "hybrid_par"])
def test_heads_must_divide_d_model(name):
    with pytest.raises(FastSNNError, match=r"n_heads=5 does not divide d_model=48; pick n_heads among \[1, 2, 3, 4, 6"):
        fastsnn.create("attention", name, d_model=48, n_heads=5, layer_idx=3, max_seq_len=64)


@pytest.mark.parametrize("name", ["linear", "gla", "swa", "softmax"])
def test_kv_heads_must_divide_heads(name):
    with pytest.raises(FastSNNError, match=rf"{name} attention \(layer 2\): n_kv_heads=3 does not divide n_heads=4"):
        fastsnn.create("attention", name, d_model=48, n_heads=4, layer_idx=2, n_kv_heads=3, max_seq_len=64)


def test_unknown_feature_map_is_a_param_error_with_did_you_mean():
    with pytest.raises(FastSNNError, match=r"\n  feature_map: unknown feature_map 'elu\+1' \(did you mean 'elu1'\?\)"):
        make("linear", feature_map="elu+1")


def test_z_normalisation_needs_nonnegative_features():
    with pytest.raises(FastSNNError, match="norm='z' divides by .* feature map 'identity' can be negative"):
        make("linear", feature_map="identity", norm="z")
    make("linear", feature_map="identity", norm="none")  # signed features are fine unnormalised


def test_gla_chunk_size_must_fit_subchunks():
    with pytest.raises(FastSNNError, match="chunk_size must be <= 16 or a multiple of 16, got 40"):
        make("gla", chunk_size=40)


def test_rope_needs_an_even_head_dim():
    with pytest.raises(FastSNNError, match="rotary embeddings need an even head_dim, got 5"):
        fastsnn.create("attention", "swa", d_model=20, n_heads=4)


@pytest.mark.parametrize("key", ["linear", "gla", "swa", "softmax", "hybrid_par"])
def test_cache_for_another_batch_size_is_refused(key):
    layer = make(key)
    cache = layer.init_cache(3)
    with pytest.raises(FastSNNError, match=r"cache was made for batch size 3 but the input has batch size 2; make a new "
                                           r"cache with init_cache\(2\)"):
        layer(torch.randn(2, 4, D_MODEL), cache)
    assert cache.seen == 0


@pytest.mark.parametrize("key", ["linear", "gla", "swa", "softmax", "hybrid_par"])
def test_cache_from_another_layer_is_refused(key):
    layer, twin = make(key), make(key)
    with pytest.raises(FastSNNError, match="was made by another layer or model"):
        layer(torch.randn(1, 4, D_MODEL), twin.init_cache(1))
    other_kind = make("softmax" if key != "softmax" else "linear")
    with pytest.raises(FastSNNError, match="was made by another layer or model"):
        layer(torch.randn(1, 4, D_MODEL), other_kind.init_cache(1))


@pytest.mark.parametrize("key", ["linear", "gla", "swa", "softmax", "hybrid_par"])
def test_sequence_longer_than_max_seq_len_is_refused(key):
    layer = make(key, max_seq_len=16)
    with pytest.raises(FastSNNError, match=r"sequence too long: 0 cached \+ 17 new tokens > max_seq_len=16"):
        layer(torch.randn(1, 17, D_MODEL))
    cache = layer.init_cache(1)
    layer(torch.randn(1, 10, D_MODEL), cache)
    with pytest.raises(FastSNNError, match=r"sequence too long: 10 cached \+ 7 new tokens > max_seq_len=16"):
        layer(torch.randn(1, 7, D_MODEL), cache)


def test_input_must_be_three_dimensional():
    with pytest.raises(FastSNNError, match=r"LinearAttention: input must be \[batch, time, d_model\], got \(5, 48\)"):
        make("linear")(torch.randn(5, D_MODEL))


def test_rope_rotates_pairs_by_position_and_preserves_relative_scores():
    from fastsnn_attention.rope import RotaryEmbedding

    rope = RotaryEmbedding(8, base=100.0)
    x = torch.randn(1, 2, 5, 8)
    rotated = rope(x, offset=3)
    theta = 100.0 ** (-torch.arange(0, 8, 2) / 8)
    angle = (3 + 2) * theta  # token 2 is at absolute position 5
    pair = x[0, 1, 2].view(4, 2)
    want = torch.stack([pair[:, 0] * angle.cos() - pair[:, 1] * angle.sin(),
                        pair[:, 0] * angle.sin() + pair[:, 1] * angle.cos()], dim=-1).flatten()
    assert_close(rotated[0, 1, 2], want)
    assert_close(rotated.norm(dim=-1), x.norm(dim=-1))  # rotations keep lengths
    # q·k depends only on the distance: shifting both positions leaves the scores unchanged
    q, k = torch.randn(1, 1, 6, 8), torch.randn(1, 1, 6, 8)
    assert_close(rope(q, 0) @ rope(k, 0).transpose(-1, -2), rope(q, 40) @ rope(k, 40).transpose(-1, -2), atol=1e-4)
    assert rope(x.to(torch.bfloat16)).dtype == torch.bfloat16
    assert_close(rope(x.transpose(2, 3).contiguous().transpose(2, 3)), rope(x))  # any strides


@pytest.mark.parametrize("shape, offset", [((1, 2, 5, 8), 3), ((3, 1, 7, 6), 0), ((2, 3, 1, 4), 1023)])
def test_rope_real_form_matches_the_complex_form_values_and_gradients(shape, offset):
    # the real-arithmetic rotation is what a compiled graph runs (Inductor has no complex codegen)
    from fastsnn_attention.rope import RotaryEmbedding

    rope = RotaryEmbedding(shape[-1], base=500.0)
    x = leaf(*shape)
    assert_close(rope.rotate_real(x, offset), rope(x, offset))
    for got, want in zip(grads(lambda: rope.rotate_real(x, offset), [x]), grads(lambda: rope(x, offset), [x])):
        assert_close(got, want)
