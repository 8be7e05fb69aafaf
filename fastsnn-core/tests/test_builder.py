"""The seed API builder: SNNConfig → ModelConfig → SpikingLM, with in-process stand-in kernels."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from fastsnn import FastSNNError, hookimpl
from fastsnn.builder.config import SNNConfig
from fastsnn.builder.model_from_config import build_model_from_config
from fastsnn.config import ModelConfig
from fastsnn.model import SpikingLM
from fastsnn.testing import use_plugins
from toy_plugins import CumMean, HalfNeuron


class ToyHybridPar(CumMean):
    """Stands in for hybrid_par: takes the SWA reference as a parameter."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        swa: Any = "swa"

    def __init__(self, d_model, n_heads, layer_idx=0, max_seq_len=2048, swa="swa"):
        super().__init__(d_model, n_heads, layer_idx, max_seq_len)
        self.swa_ref = swa


class AltParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    linear: Any = "linear"
    swa: Any = "swa"


def toy_hybrid_alt(n_layers: int, linear: Any = "linear", swa: Any = "swa") -> list[Any]:
    """Linear and SWA alternating."""
    return [linear if i % 2 == 0 else swa for i in range(n_layers)]


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


def test_window_reaches_the_swa_kernel():
    assert seed_config(attn_kind="swa", window=8).attention_ref() == {"name": "swa", "window": 8}
    alt = build_model_from_config(seed_config(attn_kind="hybrid_alt", window=8))
    assert alt.layer_attention[1].params == {"window": 8}
    par = build_model_from_config(seed_config(attn_kind="hybrid_par", window=8))
    assert par.blocks[0].attn.swa_ref == {"name": "swa", "window": 8}


def test_other_fields_pass_through():
    cfg = seed_config(n_layers=3, softmax_layers=[2], neuron={"name": "adaptive_threshold", "threshold": 0.25},
                      tie_embeddings=False, max_seq_len=64)
    model = build_model_from_config(cfg)
    assert [ref.name for ref in model.layer_attention] == ["linear", "swa", "softmax"]
    assert model.blocks[0].ffn.neuron.threshold == 0.25
    assert model.head.weight is not model.embed.weight and model.config.max_seq_len == 64


def test_build_accepts_model_configs_and_dicts():
    as_dict = build_model_from_config(seed_config().model_dump())
    as_model_config = build_model_from_config(seed_config().to_model_config())
    plain = build_model_from_config({"vocab_size": 50, "attention": "linear"})
    assert as_dict.config == as_model_config.config
    assert isinstance(plain.config, ModelConfig) and plain.config.vocab_size == 50


# -- bad input -------------------------------------------------------------------------------------
def test_unknown_attn_kind_suggests_the_closest():
    with pytest.raises(ValidationError, match=r"attn_kind: .*unknown attention or layout 'hybird_alt' "
                                              r"\(did you mean 'hybrid_alt'\?\)"):
        seed_config(attn_kind="hybird_alt")


def test_bad_shapes_and_fields_are_validation_errors():
    with pytest.raises(ValidationError, match=r"n_heads \(3\) must divide d_model \(32\)"):
        seed_config(n_heads=3)
    with pytest.raises(ValidationError, match="vocab_size"):
        seed_config(vocab_size=0)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        seed_config(heads=4)
    with pytest.raises(ValidationError, match="window applies to attn_kind"):
        seed_config(attn_kind="linear", window=16)


def test_not_a_config_is_a_clear_error():
    with pytest.raises(FastSNNError, match="needs an SNNConfig, ModelConfig or dict, got str"):
        build_model_from_config("hybrid_alt")


def test_missing_kernel_package_is_named():
    with use_plugins():
        with pytest.raises(ValidationError, match="pip install fastsnn-attention"):
            SNNConfig(vocab_size=10, attn_kind="swa", neuron="x")
