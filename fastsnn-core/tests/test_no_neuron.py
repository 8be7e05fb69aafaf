"""``neuron = "none"``: a non-spiking model, built with no neuron package installed."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from torch import nn

import fastsnn
from fastsnn.config import ModelConfig
from fastsnn.model import build_model, from_pretrained
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin


@pytest.fixture(autouse=True)
def _toy_without_neurons():
    toy = make_plugin()
    with use_plugins(toy):
        yield


@pytest.mark.parametrize("none", ["none", "None", None])
def test_no_neuron_builds_a_plain_model_that_saves_and_loads(tmp_path, none):
    config = ModelConfig(vocab_size=32, d_model=16, n_layers=2, n_heads=2, attention="cummean", ffn="swiglu",
                         neuron=none)
    assert config.neuron is None
    model = build_model(config, seed=0).eval()
    assert all(isinstance(block.ffn.neuron, nn.Identity) for block in model.blocks)
    ffn = model.blocks[0].ffn
    x = torch.randn(3, 16)
    torch.testing.assert_close(ffn(x), ffn.down(torch.nn.functional.silu(ffn.gate(x)) * ffn.up(x)))
    ids = torch.randint(0, 32, (2, 7))
    model.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model"]["neuron"] is None
    loaded = from_pretrained(tmp_path / "m")
    torch.testing.assert_close(loaded(ids), model(ids))
    assert pickle.loads(pickle.dumps(config)) == config


def test_the_default_still_names_a_neuron_and_an_unknown_one_says_so():
    assert ModelConfig(vocab_size=8, attention="cummean", neuron="half").neuron.name == "half"
    with pytest.raises(Exception, match="unknown neuron 'nope'"):
        ModelConfig(vocab_size=8, attention="cummean", neuron="nope")
    assert fastsnn.components("neuron")  # the toy plugin's neurons are there; 'none' is not a component name
