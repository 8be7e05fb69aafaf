"""A learned position table (``position_embedding = "learned"``, GPT-2) and the pulse FFN without
its neuron (``spiking = false``) or with GELU's tanh approximation."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from pydantic import ValidationError
from torch.nn import functional as F

import fastsnn
from fastsnn.config import ModelConfig
from fastsnn.errors import FastSNNError
from fastsnn.model import build_model, from_pretrained
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


def learned(**overrides):
    values = dict(vocab_size=32, d_model=16, n_layers=2, n_heads=2, max_seq_len=20, attention="cummean",
                  neuron={"name": "half", "threshold": 0.01}, position_embedding="learned")
    return build_model(ModelConfig(**{**values, **overrides}), seed=0).double().eval()


def test_learned_positions_are_added_and_decoding_reads_them_at_the_right_place(tmp_path):
    model = learned()
    assert model.pos_embed.weight.shape == (20, 16)
    ids = torch.randint(0, 32, (2, 9), generator=torch.Generator().manual_seed(1))
    full = model(ids)
    with torch.no_grad():
        model.pos_embed.weight[3].add_(1.0)
    changed = model(ids)
    assert torch.equal(changed[:, :3], full[:, :3]) and not torch.allclose(changed[:, 3:], full[:, 3:])
    cache = model.init_cache(2)
    stepped = torch.cat([model(ids[:, t : t + 1], cache=cache) for t in range(9)], 1)
    torch.testing.assert_close(stepped, changed)
    loaded = from_pretrained(copy.deepcopy(model).float().save_pretrained(tmp_path / "m"))
    torch.testing.assert_close(loaded(ids), changed.float(), atol=1e-5, rtol=1e-5)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        torch.testing.assert_close(clone(ids), changed)


def test_the_table_sets_the_length_limit_and_needs_max_seq_len():
    model = learned()
    tokens, why = model.length_limit()
    assert tokens == 20 and "pos_embed" in why
    with pytest.raises(FastSNNError, match=r"longer than max_seq_len=20 \(pos_embed"):
        model(torch.zeros(1, 21, dtype=torch.long))
    with pytest.raises(ValidationError, match="position_embedding='learned' needs max_seq_len"):
        ModelConfig(vocab_size=8, attention="cummean", neuron="half", position_embedding="learned")


def test_pulse_ffn_without_spikes_is_a_plain_mlp_and_gelu_tanh_is_gpt2s():
    neuron = fastsnn.create("neuron", "half", threshold=0.5)
    ffn = fastsnn.create("ffn", "pulse", d_model=6, d_ff=10, neuron=neuron, spiking=False, activation="gelu_tanh",
                         bias=True)
    x = torch.randn(3, 6)
    want = ffn.down(F.gelu(ffn.up(x), approximate="tanh"))
    torch.testing.assert_close(ffn(x), want)
    spiking = fastsnn.create("ffn", "pulse", d_model=6, d_ff=10, neuron=neuron, activation="gelu_tanh", bias=True)
    spiking.load_state_dict(ffn.state_dict())
    assert not torch.allclose(spiking(x), want)  # the neuron is in the path by default
    for clone in (copy.deepcopy(ffn), pickle.loads(pickle.dumps(ffn))):
        torch.testing.assert_close(clone(x), want)


def test_the_onnx_forward_adds_the_position_table():
    from fastsnn.export.onnx_graph import LMForward

    model = learned()
    ids = torch.randint(0, 32, (2, 9), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        model.pos_embed.weight.add_(1.0)
        torch.testing.assert_close(LMForward(model)(ids), model(ids))
