"""Feature maps: built-ins, the in-process registry, the entry-point extension point, errors."""

from __future__ import annotations

import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest
import torch

import fastsnn
from fastsnn import FastSNNError, UnknownComponentError
from fastsnn_attention import feature_maps
from fastsnn_attention.feature_maps import (
    ENTRY_POINT_GROUP,
    feature_map_names,
    get_feature_map,
    register_feature_map,
    unregister_feature_map,
)


@pytest.mark.parametrize("name", ["relu", "elu1", "softplus", "relu2"])
def test_builtin_maps_declared_nonnegative_are_nonnegative(name):
    fm = get_feature_map(name)
    assert fm.nonnegative
    assert (fm(torch.randn(1000) * 5) >= 0).all()


def test_identity_is_signed():
    fm = get_feature_map("identity")
    assert not fm.nonnegative
    x = torch.randn(10)
    assert torch.equal(fm(x), x)


def test_unknown_feature_map_suggests_the_closest_name():
    with pytest.raises(UnknownComponentError, match=r"unknown feature map 'rleu' \(did you mean 'relu'\?\); available"):
        get_feature_map("rleu")


def test_registered_map_is_usable_by_the_linear_layer_and_can_be_removed():
    register_feature_map("square_test", torch.square, nonnegative=True, description="x²")
    try:
        assert "square_test" in feature_map_names()
        layer = fastsnn.create("attention", "linear", d_model=16, n_heads=2, feature_map="square_test")
        assert layer(torch.randn(1, 5, 16)).shape == (1, 5, 16)
        with pytest.raises(FastSNNError, match="already registered"):
            register_feature_map("square_test", torch.square, nonnegative=True)
    finally:
        unregister_feature_map("square_test")
    assert "square_test" not in feature_map_names()


def test_register_rejects_bad_names_and_non_callables():
    with pytest.raises(FastSNNError, match="identifier"):
        register_feature_map("not a name", torch.square, nonnegative=True)
    with pytest.raises(FastSNNError, match="must be callable"):
        register_feature_map("fine_name", 3, nonnegative=True)


def test_entry_point_feature_maps_are_discovered_and_broken_ones_reported(tmp_path, monkeypatch):
    module = tmp_path / "fm_plugin_for_test.py"
    module.write_text(textwrap.dedent("""
        import torch

        def cosine(x):
            '''cos(x), signed.'''
            return torch.cos(x)

        def exp_map(x):
            return torch.exp(x)
        exp_map.nonnegative = True
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    found = [
        EntryPoint("cosine", "fm_plugin_for_test:cosine", ENTRY_POINT_GROUP),
        EntryPoint("expmap", "fm_plugin_for_test:exp_map", ENTRY_POINT_GROUP),
        EntryPoint("broken", "no_such_module_for_test:thing", ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(feature_maps, "entry_points", lambda group: found if group == ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(feature_maps, "_from_entry_points", None)
    monkeypatch.setattr(feature_maps, "_broken_entry_points", {})
    try:
        assert {"cosine", "expmap"} <= set(feature_map_names())
        assert not get_feature_map("cosine").nonnegative
        assert get_feature_map("cosine").description == "cos(x), signed."
        assert get_feature_map("expmap").nonnegative
        with pytest.raises(UnknownComponentError, match="broken feature-map entry points: broken: ModuleNotFoundError"):
            get_feature_map("nope")
        # a signed map from a plugin cannot be used with z-normalisation
        with pytest.raises(FastSNNError, match="feature map 'cosine' can be negative"):
            fastsnn.create("attention", "linear", d_model=8, n_heads=2, feature_map="cosine", norm="z")
    finally:
        sys.modules.pop("fm_plugin_for_test", None)
