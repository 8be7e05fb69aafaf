"""Registry, create() and components(): lookup, params validation, errors."""

from importlib.metadata import PackageNotFoundError, version

import pytest
from pydantic import BaseModel

import fastsnn
from fastsnn.errors import DuplicateComponentError, FastSNNError, UnknownComponentError
from fastsnn.kind_table import CORE_KINDS
from fastsnn.registry import Registry, make_spec
from fastsnn.testing import use_plugins
from toy_plugins import HalfNeuron, make_plugin

NEURON = next(k for k in CORE_KINDS if k.name == "neuron")


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
        assert isinstance(neuron, HalfNeuron) and neuron.params.threshold == 0.25
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


def _hint(dist: str) -> str:
    try:
        version(dist)
    except PackageNotFoundError:
        return f"pip install {dist}"
    return f"provided by {dist}, which is installed but was not loaded here"


def test_unknown_first_party_name_says_what_to_install():
    with pytest.raises(UnknownComponentError, match=_hint("fastsnn-neurons")):
        fastsnn.create("neuron", "adaptive_threshold")
    with pytest.raises(UnknownComponentError, match=_hint("fastsnn-attention")):
        fastsnn.create("attention", "swa", d_model=8, n_heads=2)


def test_a_broken_first_party_package_is_reported_as_broken_not_missing():
    registry = Registry(distribution_status={"fastsnn-neurons": "broken: ImportError: no module named 'x'"})
    with pytest.raises(UnknownComponentError, match=r"installed but failed to load \(ImportError: no module named 'x'\)"):
        registry.get("neuron", "lif")
    registry = Registry(distribution_status={"fastsnn-neurons": "not loaded"})
    with pytest.raises(UnknownComponentError, match="not loaded: add it to FASTSNN_LOAD_PLUGINS"):
        registry.get("neuron", "lif")


def test_unknown_kind_is_reported():
    with pytest.raises(UnknownComponentError, match="did you mean 'neuron'"):
        fastsnn.components("neurons")


def test_a_name_two_distributions_register_is_refused_by_name_and_reachable_qualified():
    registry = Registry()
    registry.add(make_spec(NEURON, "half", HalfNeuron, plugin="a", distribution="dist-a", dist_version="1"))
    registry.add(make_spec(NEURON, "other", HalfNeuron, plugin="a", distribution="dist-a", dist_version="1"))
    registry.add(make_spec(NEURON, "half", HalfNeuron, plugin="b", distribution="dist-b", dist_version="2"))
    with pytest.raises(DuplicateComponentError, match=r"dist-a \(plugin 'a'\) and dist-b \(plugin 'b'\).*"
                                                      r"'dist-a:half' or 'dist-b:half'.*FASTSNN_LOAD_PLUGINS"):
        registry.get("neuron", "half")
    assert registry.get("neuron", "dist-b:half").distribution == "dist-b"
    assert registry.get("neuron", "other").distribution == "dist-a", "a clash never disables other components"
    assert registry.clashes() == {("neuron", "half"): ["dist-a", "dist-b"]}
    assert registry.names("neuron") == ["dist-a:half", "dist-b:half", "other"]
    with pytest.raises(UnknownComponentError, match="no neuron 'half' is registered by distribution 'dist-c'"):
        registry.get("neuron", "dist-c:half")


def test_one_plugin_registering_a_name_twice_is_an_error():
    registry = Registry()
    registry.add(make_spec(NEURON, "half", HalfNeuron, plugin="a", distribution="dist-a", dist_version="1"))
    with pytest.raises(DuplicateComponentError, match="registers neuron 'half' twice"):
        registry.add(make_spec(NEURON, "half", HalfNeuron, plugin="a", distribution="dist-a", dist_version="1"))


def test_params_model_must_forbid_extra_fields():
    class Loose(BaseModel):
        x: int = 1

    def factory(x=1):
        return x

    with pytest.raises(FastSNNError, match="extra='forbid'"):
        make_spec(NEURON, "loose", factory, params=Loose, plugin="p", distribution="d", dist_version="1")


def test_registration_must_be_callable_and_well_named():
    with pytest.raises(FastSNNError, match="callable"):
        make_spec(NEURON, "x", 42, plugin="p", distribution="d", dist_version="1")
    with pytest.raises(FastSNNError, match="identifier"):
        make_spec(NEURON, "has space", HalfNeuron, plugin="p", distribution="d", dist_version="1")
