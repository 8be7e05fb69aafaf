"""SpikingLM in core alone (toy attention and neuron): prefill, generate, the attention template,
input checks, save/load, and every public object surviving pickle and deepcopy."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

import fastsnn
from fastsnn.config import ModelConfig, RunConfig
from fastsnn.config.refs import NeuronRef, ref_type, to_ref
from fastsnn.model import build_model, from_pretrained
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


def toy_config(**overrides) -> ModelConfig:
    values = dict(vocab_size=32, d_model=16, n_layers=2, n_heads=2, max_seq_len=64, attention="cummean",
                  neuron={"name": "half", "threshold": 0.01})
    return ModelConfig(**{**values, **overrides})


def toy_model(**overrides):
    return build_model(toy_config(**overrides), seed=0).double().eval()


def test_decode_and_chunked_prefill_equal_the_full_forward():
    model = toy_model()
    ids = torch.randint(0, 32, (2, 23), generator=torch.Generator().manual_seed(1))
    full = model(ids)
    cache = model.init_cache(2)
    stepped = torch.cat([model(ids[:, t : t + 1], cache=cache) for t in range(23)], 1)
    torch.testing.assert_close(stepped, full)
    cache = model.init_cache(2)
    last = model.prefill(ids, cache, chunk_size=5)
    torch.testing.assert_close(last, full[:, 20:])
    assert cache.seen == 23 and all(layer.seen == 23 for layer in cache.layers)


def test_the_attention_base_advances_the_cache_once_per_call():
    attn = fastsnn.create("attention", "cummean", d_model=8, n_heads=2)
    cache = attn.init_cache(1)
    attn(torch.randn(1, 3, 8), cache)
    attn(torch.randn(1, 1, 8), cache)
    assert cache.seen == 4  # the toy layer's mix() never touches cache.seen


def test_generate_greedy_is_deterministic_and_extends_the_prompt():
    model = toy_model()
    prompt = torch.tensor([[1, 2, 3]])
    out = model.generate(prompt, max_new_tokens=5, temperature=0)
    assert out.shape == (1, 8) and torch.equal(out[:, :3], prompt)
    assert torch.equal(out, model.generate(prompt, max_new_tokens=5, temperature=0))
    logits = model(out[:, :-1])
    assert torch.equal(out[0, 3:], logits[0, 2:].argmax(-1)), "each new token is the argmax after its prefix"


@pytest.mark.parametrize(("ids", "expected"), [
    (torch.tensor([[1, 32]]), "token id 32 is out of range for vocab_size=32"),
    (torch.tensor([[1, -1]]), "token id -1 is out of range"),
    (torch.zeros(2, 0, dtype=torch.long), "empty batch or time axis"),
    (torch.zeros(0, 3, dtype=torch.long), "empty batch or time axis"),
    (torch.zeros(2, 3), "must be an integer tensor"),
    (torch.zeros(3, dtype=torch.long), "must have shape (batch, time)"),
])
def test_bad_token_ids_are_clear_errors(ids, expected):
    with pytest.raises(fastsnn.FastSNNError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        toy_model()(ids)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32])
def test_narrow_integer_ids_work(dtype):
    model = toy_model()
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(model(ids.to(dtype)), model(ids))


def test_save_pretrained_and_from_pretrained_round_trip(tmp_path):
    model = toy_model().float()
    folder = model.save_pretrained(tmp_path / "m", metadata={"note": "hi"})
    loaded = from_pretrained(folder)
    assert loaded.config == model.config and not loaded.training
    ids = torch.tensor([[1, 2, 3, 4]])
    torch.testing.assert_close(loaded(ids), model(ids))
    meta = (folder / "config.json").read_text()
    assert '"distribution": "(in-process)"' in meta and '"note": "hi"' in meta and "weights_sha256" in meta


def test_a_missing_component_names_what_to_install(tmp_path):
    folder = toy_model().float().save_pretrained(tmp_path / "m")
    with use_plugins():
        with pytest.raises(fastsnn.FastSNNError, match=r"the model needs .*neuron 'half' \(from \(in-process\)\)"):
            from_pretrained(folder)


def test_the_same_seed_gives_the_same_weights_whatever_the_global_rng():
    torch.manual_seed(1)
    a = build_model(toy_config(), seed=7)
    torch.manual_seed(2)
    b = build_model(toy_config(), seed=7)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# -- pickle and deepcopy ------------------------------------------------------------------------------
def test_configs_refs_models_and_caches_survive_pickle_and_deepcopy():
    model = toy_model()
    cache = model.init_cache(1)
    model(torch.tensor([[1, 2]]), cache=cache)
    objects = [toy_config(), RunConfig(model=toy_config()), to_ref("neuron", {"name": "half", "threshold": 0.5}),
               NeuronRef.model_validate("half"), ref_type("attention", "layout").model_validate("cummean"),
               model, cache, fastsnn.create("neuron", "half"), fastsnn.SpikeTensor.count(torch.tensor([1.0, 2.0]), 0.5)]
    for obj in objects:
        for clone in (pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj)):
            assert type(clone) is type(obj)
            if isinstance(obj, torch.nn.Module):
                assert all(torch.equal(x, y) for x, y in zip(obj.state_dict().values(), clone.state_dict().values()))
            elif hasattr(obj, "model_dump"):
                assert clone == obj
    loaded = pickle.loads(pickle.dumps(model))
    ids = torch.tensor([[3, 4, 5]])
    torch.testing.assert_close(loaded(ids), model(ids))
    cache_copy = copy.deepcopy(cache)
    assert cache_copy.seen == 2 and cache_copy.layers[0].seen == 2
