"""Registry, create() and components(): lookup, params validation, errors."""

import pytest
from pydantic import BaseModel

import fastsnn
from fastsnn.errors import DuplicateComponentError, FastSNNError, UnknownComponentError
from fastsnn.registry import Registry, make_spec
from fastsnn.testing import use_plugins
from toy_plugins import HalfNeuron, make_plugin


def test_builtins_are_registered_through_hooks(_builtins_only):
    names = {(c["kind"], c["name"]) for c in fastsnn.components()}
    assert {("ffn", "pulse"), ("ffn", "swiglu"), ("norm", "rmsnorm"), ("exporter", "safetensors")} <= names
    info = _builtins_only.plugins["fastsnn.builtins"]
    assert info.status == "ok" and info.distribution == "fastsnn-core"
    assert "fastsnn_register_ffn" in info.hooks


def test_components_lists_every_field():
    with use_plugins(make_plugin()):
        (entry,) = fastsnn.components("neuron")
    assert entry["name"] == "half" and entry["kind"] == "neuron"
    assert entry["plugin"] == "toy" and entry["distribution"] == "(in-process)"
    assert entry["description"].startswith("counts = round")
    assert entry["params"]["properties"]["threshold"]["default"] == 0.5


def test_create_validates_params_and_builds():
    with use_plugins(make_plugin()):
        neuron = fastsnn.create("neuron", "half", threshold=0.25)
        assert isinstance(neuron, HalfNeuron) and neuron.threshold == 0.25
        with pytest.raises(FastSNNError, match=r"threshold: Input should be greater than 0"):
            fastsnn.create("neuron", "half", threshold=-1)
        with pytest.raises(FastSNNError, match=r"thresold: Extra inputs are not permitted"):
            fastsnn.create("neuron", "half", thresold=1.0)


def test_create_passes_builder_context_for_the_kind():
    with use_plugins(make_plugin()):
        attn = fastsnn.create("attention", "cummean", d_model=8, n_heads=2, window=3)
    assert attn.d_model == 8


def test_unknown_name_suggests_closest_and_lists_available():
    with pytest.raises(UnknownComponentError) as err:
        fastsnn.create("ffn", "pluse", d_model=4, d_ff=8)
    msg = str(err.value)
    assert "did you mean 'pulse'?" in msg and "pulse, swiglu" in msg


def test_unknown_first_party_name_says_what_to_install():
    with pytest.raises(UnknownComponentError, match="pip install fastsnn-neurons"):
        fastsnn.create("neuron", "adaptive_threshold")
    with pytest.raises(UnknownComponentError, match="pip install fastsnn-attention"):
        fastsnn.create("attention", "swa", d_model=8, n_heads=2)


def test_unknown_kind_is_reported():
    with pytest.raises(UnknownComponentError, match="did you mean 'neuron'"):
        fastsnn.components("neurons")


def test_duplicate_registration_names_both_distributions():
    registry = Registry()
    common = dict(plugin="a", distribution="dist-a", dist_version="1")
    registry.add(make_spec("neuron", "half", HalfNeuron, **common))
    with pytest.raises(DuplicateComponentError, match="dist-a.*dist-b"):
        registry.add(make_spec("neuron", "half", HalfNeuron, plugin="b", distribution="dist-b", dist_version="2"))
    with pytest.raises(DuplicateComponentError, match="dist-a and dist-b"):
        registry.get("neuron", "half")


def test_params_model_must_forbid_extra_fields():
    class Loose(BaseModel):
        x: int = 1

    def factory(x=1):
        return x

    with pytest.raises(FastSNNError, match="extra='forbid'"):
        make_spec("neuron", "loose", factory, params=Loose, plugin="p", distribution="d", dist_version="1")


def test_registration_must_be_callable_and_well_named():
    with pytest.raises(FastSNNError, match="callable"):
        make_spec("neuron", "x", 42, plugin="p", distribution="d", dist_version="1")
    with pytest.raises(FastSNNError, match="identifier"):
        make_spec("neuron", "has space", HalfNeuron, plugin="p", distribution="d", dist_version="1")
