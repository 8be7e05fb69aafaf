"""The spiking LM with every kernel and layout: decode == prefill, causality, generate, cache errors.

The FFN uses an in-test per-token spiking neuron (``test_round``, see conftest), so these tests
do not depend on fastsnn-neurons; tests/ at the repository root repeats the key ones with the
real ``adaptive_threshold`` neuron.
"""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from fastsnn import FastSNNError
from fastsnn.config import ModelConfig
from fastsnn.model import build_model
from fastsnn_attention.testing import assert_close

VOCAB = 61
LAYOUTS = {
    "linear": "linear",
    "gla": {"name": "gla", "chunk_size": 16},
    "swa": {"name": "swa", "window": 5},
    "softmax": "softmax",
    "hybrid_alt": {"name": "hybrid_alt", "swa": {"name": "swa", "window": 4}},
    "hybrid_alt_gla_first_swa": {"name": "hybrid_alt", "linear": "gla", "swa": {"name": "swa", "window": 6},
                                 "first": "swa"},
    "hybrid_par": {"name": "hybrid_par", "swa": {"name": "swa", "window": 4}},
    "explicit_list": ["linear", {"name": "swa", "window": 3}, "softmax"],
}


def model_for(attention, n_layers: int = 3, softmax_layers=(), max_seq_len: int = 64, **extra):
    config = ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=n_layers, n_heads=4, d_ff=64, max_seq_len=max_seq_len,
                         attention=attention, softmax_layers=list(softmax_layers), ffn="pulse", neuron="test_round",
                         **extra)
    torch.manual_seed(0)
    return build_model(config).eval()


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_decode_one_token_at_a_time_equals_full_forward(layout):
    model = model_for(LAYOUTS[layout])
    ids = torch.randint(0, VOCAB, (2, 29))
    with torch.no_grad():
        full = model(ids)
        cache = model.init_cache(2)
        steps = [model(ids[:, :9], cache=cache)] + [model(ids[:, t : t + 1], cache=cache) for t in range(9, 29)]
    assert cache.seen == 29 and all(layer.seen == 29 for layer in cache.layers)
    assert_close(torch.cat(steps, dim=1), full, rtol=0, atol=1e-4)


def test_softmax_on_chosen_layers_of_a_layout():
    model = model_for(LAYOUTS["hybrid_alt"], n_layers=4, softmax_layers=[1, 3])
    kinds = [type(block.attn).__name__ for block in model.blocks]
    assert kinds == ["LinearAttention", "SoftmaxAttention", "LinearAttention", "SoftmaxAttention"]
    ids = torch.randint(0, VOCAB, (1, 20))
    with torch.no_grad():
        full = model(ids)
        cache = model.init_cache(1)
        steps = [model(ids[:, t : t + 1], cache=cache) for t in range(20)]
    assert_close(torch.cat(steps, dim=1), full, rtol=0, atol=1e-4)


def test_layouts_expand_to_the_expected_kernels():
    kinds = [type(b.attn).__name__ for b in model_for(LAYOUTS["hybrid_alt_gla_first_swa"], n_layers=4).blocks]
    assert kinds == ["SlidingWindowAttention", "GatedLinearAttention"] * 2
    swa_windows = [b.attn.params.window for b in model_for(LAYOUTS["hybrid_alt"], n_layers=4).blocks[1::2]]
    assert swa_windows == [4, 4]
    par = model_for(LAYOUTS["hybrid_par"], n_layers=1).blocks[0].attn
    assert type(par).__name__ == "HybridParallelAttention" and par.swa_branch.params.window == 4


@pytest.mark.parametrize("layout", ["hybrid_alt", "hybrid_par", "softmax"])
def test_changing_a_future_token_never_changes_an_earlier_logit(layout):
    model = model_for(LAYOUTS[layout])
    ids = torch.randint(0, VOCAB, (1, 24))
    changed = ids.clone()
    changed[0, 15] = (changed[0, 15] + 1) % VOCAB
    with torch.no_grad():
        a, b = model(ids), model(changed)
    assert torch.equal(a[:, :15], b[:, :15])
    assert not torch.allclose(a[:, 15:], b[:, 15:])


def test_chunked_prefill_equals_one_call():
    model = model_for(LAYOUTS["hybrid_alt"])
    ids = torch.randint(0, VOCAB, (2, 40))
    with torch.no_grad():
        full = model(ids)
        cache = model.init_cache(2)
        last = model.prefill(ids, cache, chunk_size=7)
    assert cache.seen == 40
    assert_close(last, full[:, 35:], rtol=0, atol=1e-4)


def test_greedy_generate_matches_argmax_of_full_forwards():
    model = model_for(LAYOUTS["hybrid_par"])
    prompt = torch.randint(0, VOCAB, (2, 11))
    out = model.generate(prompt, max_new_tokens=6, temperature=0, prefill_chunk=4)
    assert out.shape == (2, 17) and torch.equal(out[:, :11], prompt)
    with torch.no_grad():
        seq = prompt
        for _ in range(6):
            seq = torch.cat([seq, model(seq)[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(out, seq)


def test_sampling_respects_top_k_one_and_is_reproducible():
    model = model_for(LAYOUTS["hybrid_alt"])
    prompt = torch.randint(0, VOCAB, (1, 5))
    greedy = model.generate(prompt, 5, temperature=0)
    assert torch.equal(model.generate(prompt, 5, temperature=1.3, top_k=1), greedy)
    a = model.generate(prompt, 8, temperature=1.0, top_p=0.9, generator=torch.Generator().manual_seed(3))
    b = model.generate(prompt, 8, temperature=1.0, top_p=0.9, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_training_gradients_flow_through_every_layout():
    for layout in ("hybrid_alt", "hybrid_par", "gla"):
        model = model_for(LAYOUTS[layout]).train()
        model.loss(torch.randint(0, VOCAB, (2, 20))).backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing, f"{layout}: no gradient for {missing}"


# -- bad input ------------------------------------------------------------------------------------


def test_cache_from_another_model_is_refused():
    a, b = model_for("linear"), model_for("linear")
    with pytest.raises(FastSNNError, match="this cache was made by another model"):
        a(torch.randint(0, VOCAB, (1, 3)), cache=b.init_cache(1))


def test_cache_for_another_batch_size_is_refused():
    model = model_for(LAYOUTS["swa"])
    with pytest.raises(FastSNNError, match=r"cache was made for batch size 2 but input has batch size 1"):
        model(torch.randint(0, VOCAB, (1, 3)), cache=model.init_cache(2))


def test_sequence_longer_than_max_is_refused():
    model = model_for(LAYOUTS["hybrid_alt"], max_seq_len=16)
    with pytest.raises(FastSNNError, match="longer than max_seq_len=16"):
        model(torch.randint(0, VOCAB, (1, 17)))
    cache = model.init_cache(1)
    model(torch.randint(0, VOCAB, (1, 12)), cache=cache)
    with pytest.raises(FastSNNError, match="cache holds 12 tokens and 5 more were given, but max_seq_len is 16"):
        model(torch.randint(0, VOCAB, (1, 5)), cache=cache)
    with pytest.raises(FastSNNError, match=r"prompt of 10 tokens \+ 8 new tokens exceeds max_seq_len=16"):
        model.generate(torch.randint(0, VOCAB, (1, 10)), 8)


def test_kv_heads_not_dividing_heads_fails_at_build_naming_the_layer():
    with pytest.raises(FastSNNError, match=r"softmax attention \(layer 2\): n_kv_heads=3 does not divide n_heads=4"):
        model_for(["linear", "linear", {"name": "softmax", "n_kv_heads": 3}])


def test_bad_window_in_a_layout_is_a_config_error_with_its_path():
    with pytest.raises(ValidationError, match=r"attention\.swa\.window\n  Input should be greater than 0"):
        model_for({"name": "hybrid_alt", "swa": {"name": "swa", "window": 0}})


def test_unknown_feature_map_in_a_config_names_its_path_and_the_closest_map():
    with pytest.raises(ValidationError, match=r"attention\.feature_map\n  unknown feature_map 'rleu' \(did you mean 'relu'\?\)"):
        model_for({"name": "linear", "feature_map": "rleu"})
