"""Feature maps: a component kind declared by this plugin — built-ins, plugins adding maps, contracts, errors."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from pydantic import Field
from torch.nn import functional as F

import fastsnn
import fastsnn_attention.plugin
from fastsnn import FastSNNError, UnknownComponentError
from fastsnn.cli.main import cli
from fastsnn.plugins import manager_with
from fastsnn.testing import use_plugins
from fastsnn_attention import FeatureMap
from fastsnn_attention.testing import assert_close

BUILTINS = ["elu1", "identity", "relu", "relu2", "softplus"]
X = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0])


class ScaledReLU(FeatureMap):
    """scale · relu(x)."""

    nonnegative = True

    class Params(fastsnn.Params):
        scale: float = Field(1.0, gt=0, description="factor applied after the relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.params.scale * F.relu(x)


class Cosine(FeatureMap):
    """cos(x), signed."""

    nonnegative = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cos(x)


class FeatureMapPlugin:
    """A third-party plugin that only adds feature maps (it never imports fastsnn_attention.plugin)."""

    PLUGIN_API_VERSION = "2.0"

    @fastsnn.hookimpl
    def fastsnn_register_feature_maps(self, register):
        register("scaled_relu", ScaledReLU)
        register("cosine", Cosine)


def broken_plugin(name: str, factory: type) -> tuple[str, object]:
    class Plugin:
        PLUGIN_API_VERSION = "2.0"

        @fastsnn.hookimpl
        def fastsnn_register_feature_maps(self, register):
            register("broken_map", factory)

    return name, Plugin()


def linear(**params):
    torch.manual_seed(0)
    return fastsnn.create("attention", "linear", d_model=16, n_heads=2, **params)


# -- built-ins ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "want"), [
    ("relu", [0.0, 0.0, 0.0, 0.5, 3.0]),
    ("relu2", [0.0, 0.0, 0.0, 0.25, 9.0]),
    ("elu1", [torch.exp(torch.tensor(-2.0)).item(), torch.exp(torch.tensor(-0.5)).item(), 1.0, 1.5, 4.0]),
    ("softplus", torch.log1p(torch.exp(X)).tolist()),
    ("identity", X.tolist()),
])
def test_builtin_feature_maps_compute_their_formula(name, want):
    fm = fastsnn.create("feature_map", name)
    assert isinstance(fm, FeatureMap)
    assert_close(fm(X), torch.tensor(want), rtol=1e-6, atol=1e-7)
    assert fm(X.to(torch.bfloat16)).dtype == torch.bfloat16


@pytest.mark.parametrize("name", ["relu", "elu1", "softplus", "relu2"])
def test_builtin_maps_declared_nonnegative_are_nonnegative(name):
    fm = fastsnn.create("feature_map", name)
    assert fm.nonnegative
    assert (fm(torch.randn(1000) * 5) >= 0).all()


def test_identity_is_declared_signed():
    assert fastsnn.create("feature_map", "identity").nonnegative is False


def test_feature_maps_are_a_kind_this_plugin_declares():
    kind = fastsnn.get_registry().kind("feature_map")
    assert kind.hook == "fastsnn_register_feature_maps"
    assert kind.base == "fastsnn_attention.feature_maps:FeatureMap"
    assert kind.providers == dict.fromkeys(BUILTINS, "fastsnn-attention")
    listed = {c["name"]: c for c in fastsnn.components("feature_map")}
    assert sorted(listed) == BUILTINS
    assert listed["relu2"]["description"] == "relu(x)²."
    assert "feature_map" in fastsnn.kinds()


def test_the_linear_layer_builds_its_feature_map_through_the_registry():
    layer = linear(feature_map="elu1")
    assert type(layer.feature_map) is fastsnn.get_registry().get("feature_map", "elu1").factory
    assert layer.params.feature_map.name == "elu1"
    assert linear().params.feature_map.name == "relu"  # the default


# -- a plugin adds feature maps -------------------------------------------------------------------


def test_a_plugin_adds_a_feature_map_that_the_linear_layer_uses_by_name():
    # the adding plugin comes first: kinds are declared before any component is registered
    with use_plugins(FeatureMapPlugin(), fastsnn_attention.plugin):
        assert fastsnn.get_registry().get("feature_map", "scaled_relu").distribution == "(in-process)"
        x = torch.randn(1, 7, 16)
        relu_out = linear(norm="none")(x)
        scaled = linear(norm="none", feature_map={"name": "scaled_relu", "scale": 2.0})
        assert isinstance(scaled.feature_map, ScaledReLU) and scaled.feature_map.params.scale == 2.0
        # norm='none': o = φ(q) Σ φ(k)ᵀ v, so doubling φ scales the output by exactly 4
        assert_close(scaled(x), 4 * relu_out, rtol=1e-6, atol=1e-6)
        # a signed plugin map needs another normalisation
        with pytest.raises(FastSNNError, match="norm='z' divides by .* feature map 'cosine' can be negative"):
            linear(feature_map="cosine")
        assert linear(feature_map="cosine", norm="rmsnorm")(x).shape == (1, 7, 16)
    assert "scaled_relu" not in fastsnn.get_registry().names("feature_map")  # use_plugins restored


def test_cli_lists_and_describes_feature_maps():
    with use_plugins(fastsnn_attention.plugin, FeatureMapPlugin()):
        runner = CliRunner()
        listed = runner.invoke(cli, ["list", "feature_map", "--json"], catch_exceptions=False)
        assert listed.exit_code == 0
        assert [c["name"] for c in json.loads(listed.output)] == sorted([*BUILTINS, "cosine", "scaled_relu"])
        everything = runner.invoke(cli, ["list"], catch_exceptions=False)
        assert "feature_map" in everything.output and "relu2" in everything.output
        info = runner.invoke(cli, ["info", "feature_map", "scaled_relu"], catch_exceptions=False)
        assert info.exit_code == 0
        assert "scale · relu(x)." in info.output and "factor applied after the relu" in info.output
        assert runner.invoke(cli, ["info", "feature_map", "relu"]).exit_code == 0
        unknown = runner.invoke(cli, ["info", "feature_map", "rleu"])
        assert unknown.exit_code == 2 and "did you mean 'relu'" in unknown.output


# -- errors ---------------------------------------------------------------------------------------


def test_unknown_feature_map_suggests_the_closest_name():
    with pytest.raises(UnknownComponentError, match=r"unknown feature_map 'rleu' \(did you mean 'relu'\?\); available"):
        fastsnn.create("feature_map", "rleu")
    with pytest.raises(FastSNNError, match=r"\n  feature_map: unknown feature_map 'elu\+1' \(did you mean 'elu1'\?\)"):
        linear(feature_map="elu+1")


def test_bad_feature_map_params_name_the_field():
    with pytest.raises(FastSNNError, match=r"\n  feature_map.scale: Input should be greater than 0"):
        with use_plugins(fastsnn_attention.plugin, FeatureMapPlugin()):
            linear(feature_map={"name": "scaled_relu", "scale": 0})


@pytest.mark.parametrize(("factory", "missing"), [
    (type("NoForward", (FeatureMap,), {"nonnegative": True}), "does not implement forward"),
    (type("NoSign", (FeatureMap,), {"forward": lambda self, x: x}), "does not implement nonnegative"),
    (type("NotAMap", (torch.nn.Module,), {"forward": lambda self, x: x, "nonnegative": True}),
     "must subclass fastsnn_attention.feature_maps.FeatureMap"),
])
def test_a_class_breaking_the_contract_is_refused_and_its_plugin_reported_broken(factory, missing):
    manager = manager_with(fastsnn_attention.plugin, broken_plugin("bad_maps", factory))
    info = manager.plugins["bad_maps"]
    assert info.status == "broken"
    assert f"feature_map 'broken_map': class {factory.__qualname__} {missing}" in info.error
    assert manager.plugins["fastsnn_attention.plugin"].status == "ok"  # the others keep working
    assert "broken_map" not in manager.registry.names("feature_map")
    assert manager.registry.names("feature_map") == BUILTINS


def test_without_this_plugin_the_kind_is_unknown_and_says_what_provides_it():
    with use_plugins():
        with pytest.raises(UnknownComponentError, match="unknown component kind 'feature_map'.*provided by fastsnn-attention"):
            fastsnn.create("feature_map", "relu")
    manager = manager_with(FeatureMapPlugin())  # a plugin adding maps needs the kind's declarer loaded
    plugin = next(p for p in manager.plugins.values() if p.distribution == "(in-process)")
    assert plugin.status == "broken" and "unknown hook(s) fastsnn_register_feature_maps" in plugin.error


def test_fastsnn_load_plugins_controls_the_feature_maps_too(monkeypatch):
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", "attention")
    registry = manager_with(entry_points=True).registry
    assert registry.names("feature_map") == BUILTINS
    assert registry.kind("feature_map").declared_by == "fastsnn-attention"
    assert {s.distribution for s in registry.specs("feature_map")} == {"fastsnn-attention"}
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", "no_such_plugin_for_test")
    with pytest.raises(UnknownComponentError, match="unknown component kind 'feature_map'"):
        manager_with(entry_points=True).registry.kind("feature_map")
