"""The seed API builder: SNNConfig → ModelConfig → SpikingLM, with in-process stand-in kernels."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from pydantic import ValidationError

from fastsnn import FastSNNError, Params, hookimpl
from fastsnn.builder.config import SNNConfig
from fastsnn.builder.model_from_config import build_model_from_config
from fastsnn.config import ModelConfig
from fastsnn.model import SpikingLM
from fastsnn.testing import use_plugins
from toy_plugins import CumMean, HalfNeuron


class ToyHybridPar(CumMean):
    """Stands in for hybrid_par: takes the SWA reference as a parameter."""

    class Params(Params):
        swa: Any = "swa"


class AltParams(Params):
    linear: Any = "linear"
    swa: Any = "swa"


def toy_hybrid_alt(n_layers: int, *, params: AltParams) -> list[Any]:
    """Linear and SWA alternating."""
    return [params.linear if i % 2 == 0 else params.swa for i in range(n_layers)]


class SeedKernels:
    @hookimpl
    def fastsnn_register_neurons(self, register):
        register("adaptive_threshold", HalfNeuron)

    @hookimpl
    def fastsnn_register_attention(self, register):
        for name in ("linear", "swa", "softmax"):
            register(name, CumMean, description=f"stand-in for {name}")
        register("hybrid_par", ToyHybridPar)

    @hookimpl
    def fastsnn_register_layouts(self, register):
        register("hybrid_alt", toy_hybrid_alt, params=AltParams)


@pytest.fixture(autouse=True)
def _plugins():
    with use_plugins(("seed_kernels", SeedKernels())):
        yield


def seed_config(**overrides) -> SNNConfig:
    values = dict(vocab_size=200, d_model=32, n_heads=4, n_layers=2, d_ff=64, attn_kind="hybrid_alt")
    return SNNConfig(**{**values, **overrides})


def test_seed_snippet_builds_a_spiking_lm_that_predicts_next_tokens():
    cfg = seed_config()
    model = build_model_from_config(cfg)
    assert isinstance(model, SpikingLM)
    x = torch.randint(0, cfg.vocab_size, (2, 17))
    logits = model(x[:, :-1])
    assert logits.shape == (2, 16, 200)


@pytest.mark.parametrize("kind", ["linear", "swa", "softmax", "hybrid_alt", "hybrid_par"])
def test_every_attn_kind_maps_to_the_model_config(kind):
    model_config = seed_config(attn_kind=kind).to_model_config()
    assert model_config.attention.name == kind
    assert [ref.name for ref in model_config.layer_attention()] == (
        ["linear", "swa"] if kind == "hybrid_alt" else [kind, kind])
    assert model_config.d_ff == 64 and model_config.vocab_size == 200


def test_attention_parameters_reach_the_kernel():
    swa = build_model_from_config(seed_config(attn_kind={"name": "swa", "window": 8}))
    assert swa.blocks[0].attn.params.window == 8
    alt = build_model_from_config(seed_config(attn_kind={"name": "hybrid_alt", "swa": {"name": "swa", "window": 8}}))
    assert alt.layer_attention[1].params == {"window": 8}
    par = build_model_from_config(seed_config(attn_kind={"name": "hybrid_par", "swa": {"name": "swa", "window": 8}}))
    assert par.blocks[0].attn.params.swa == {"name": "swa", "window": 8}


def test_snn_config_is_a_model_config_under_the_seed_names():
    cfg = seed_config(attn_kind="swa")
    assert isinstance(cfg, ModelConfig) and cfg.attn_kind == "swa" and cfg.attention.name == "swa"
    assert cfg.to_model_config() == ModelConfig(vocab_size=200, d_model=32, n_heads=4, n_layers=2, d_ff=64,
                                                attention="swa")
    assert set(SNNConfig.model_fields) == set(ModelConfig.model_fields), "no field is declared twice"


def test_other_fields_pass_through():
    cfg = seed_config(n_layers=3, softmax_layers=[2], neuron={"name": "adaptive_threshold", "threshold": 0.25},
                      tie_embeddings=False, max_seq_len=64)
    model = build_model_from_config(cfg)
    assert [ref.name for ref in model.layer_attention] == ["linear", "swa", "softmax"]
    assert model.blocks[0].ffn.neuron.params.threshold == 0.25
    assert model.head.weight is not model.embed.weight and model.config.max_seq_len == 64


def test_build_accepts_model_configs_and_dicts():
    as_dict = build_model_from_config(seed_config().model_dump())
    as_model_config = build_model_from_config(seed_config().to_model_config())
    plain = build_model_from_config({"vocab_size": 50, "attention": "linear"})
    assert as_dict.config == as_model_config.config
    assert isinstance(plain.config, ModelConfig) and plain.config.vocab_size == 50


# -- bad input -------------------------------------------------------------------------------------
def test_unknown_attn_kind_suggests_the_closest():
    with pytest.raises(ValidationError, match=r"attn_kind\n  unknown attention or layout 'hybird_alt' "
                                              r"\(did you mean 'hybrid_alt'\?\)"):
        seed_config(attn_kind="hybird_alt")


def test_bad_shapes_and_fields_are_validation_errors():
    with pytest.raises(ValidationError, match=r"n_heads \(3\) must divide d_model \(32\)"):
        seed_config(n_heads=3)
    with pytest.raises(ValidationError, match="vocab_size"):
        seed_config(vocab_size=0)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        seed_config(heads=4)
    with pytest.raises(ValidationError, match=r"attn_kind\.wndow\n  Extra inputs are not permitted"):
        seed_config(attn_kind={"name": "linear", "wndow": 16})


def test_not_a_config_is_a_clear_error():
    with pytest.raises(FastSNNError, match="needs an SNNConfig, ModelConfig or dict, got str"):
        build_model_from_config("hybrid_alt")


def test_missing_kernel_package_is_named():
    with use_plugins():
        with pytest.raises(ValidationError, match="attention 'swa' is provided by fastsnn-attention"):
            SNNConfig(vocab_size=10, attn_kind="swa", neuron="x")
