"""Plugin loading: isolation, strict mode, API versions, bad hookimpls, tracing, filtering."""

import types

import pytest

import fastsnn
from fastsnn import hookimpl
from fastsnn.errors import PluginError
from fastsnn.plugins import PluginManager, PluginSource, builtin_sources, entry_point_sources, manager_with
from toy_plugins import make_plugin


def _source(name, obj=None, error=None):
    def load():
        if error is not None:
            raise error
        return obj

    return PluginSource(name, f"dist-{name}", "1.0", load)


def _manager(*sources):
    manager = PluginManager()
    manager.load(builtin_sources())
    manager.load(sources)
    return manager


def test_plugin_that_raises_on_import_is_skipped_and_shown_broken():
    manager = _manager(_source("bad", error=ImportError("no module named 'missing_dep'")), _source("good", make_plugin()))
    bad, good = manager.plugins["bad"], manager.plugins["good"]
    assert bad.status == "broken" and "missing_dep" in bad.error and bad.components == []
    assert good.status == "ok" and "neuron:half" in good.components
    assert manager.registry.names("neuron") == ["half"]


def test_strict_mode_turns_a_broken_plugin_into_an_error(monkeypatch):
    monkeypatch.setenv("FASTSNN_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="plugin 'bad' from distribution dist-bad failed to load"):
        _manager(_source("bad", error=RuntimeError("boom")))


def test_incompatible_api_version_is_reported_and_nothing_is_registered():
    manager = _manager(_source("future", make_plugin(api="2.0")))
    info = manager.plugins["future"]
    assert info.status == "broken" and "plugin API 2.0" in info.error and "provides 1.0" in info.error
    assert manager.registry.names("neuron") == []
    assert manager.pm.get_plugin("future") is None


def test_unknown_hook_is_reported_against_the_plugin():
    @hookimpl
    def fastsnn_register_neuronz(register):
        pass

    mod = types.ModuleType("typo")
    mod.fastsnn_register_neuronz = fastsnn_register_neuronz
    manager = _manager(_source("typo", mod))
    assert manager.plugins["typo"].status == "broken"
    assert "unknown hook(s) fastsnn_register_neuronz" in manager.plugins["typo"].error


def test_bad_hook_signature_is_reported_against_the_plugin():
    @hookimpl
    def fastsnn_register_neurons(register, extra):
        pass

    mod = types.ModuleType("badsig")
    mod.fastsnn_register_neurons = fastsnn_register_neurons
    manager = _manager(_source("badsig", mod))
    info = manager.plugins["badsig"]
    assert info.status == "broken" and "invalid hook implementation" in info.error and "extra" in info.error


def test_plugin_failing_half_way_registers_nothing():
    @hookimpl
    def fastsnn_register_neurons(register):
        from toy_plugins import HalfNeuron

        register("ok_neuron", HalfNeuron)
        raise ValueError("second registration failed")

    mod = types.ModuleType("half_way")
    mod.fastsnn_register_neurons = fastsnn_register_neurons
    manager = _manager(_source("half_way", mod))
    assert manager.plugins["half_way"].status == "broken"
    assert manager.registry.names("neuron") == []


def test_two_plugins_registering_one_name_names_both_distributions():
    manager = _manager(_source("first", make_plugin("first")), _source("second", make_plugin("second")))
    second = manager.plugins["second"]
    assert second.status == "broken"
    assert "dist-first" in second.error and "dist-second" in second.error
    with pytest.raises(fastsnn.DuplicateComponentError, match="dist-first and dist-second"):
        manager.registry.get("neuron", "half")


def test_trace_prints_each_hook_call(monkeypatch, capsys):
    monkeypatch.setenv("FASTSNN_TRACE_PLUGINS", "1")
    _manager(_source("toy", make_plugin()))
    err = capsys.readouterr().err
    assert "fastsnn_register_neurons from toy: registered ['half']" in err
    assert "fastsnn_register_ffn from fastsnn.builtins: registered ['pulse', 'swiglu']" in err


def test_load_plugins_env_restricts_entry_points(monkeypatch):
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", "")
    assert entry_point_sources() == []
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", "no-such-plugin")
    assert entry_point_sources() == []


def test_manager_with_gives_builtins_plus_given_plugins():
    manager = manager_with(make_plugin())
    assert set(manager.plugins) == {"fastsnn.builtins", "toy"}
