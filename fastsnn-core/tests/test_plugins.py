"""Plugin loading: isolation, strict mode, API versions, bad hookimpls, tracing, filtering."""

import re
import types

import pytest
from torch import nn

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
    manager = _manager(_source("future", make_plugin(api="3.0")))
    info = manager.plugins["future"]
    assert info.status == "broken" and "plugin API 3.0" in info.error and "provides 2.0" in info.error
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
    assert info.status == "broken" and "cannot be registered" in info.error and "extra" in info.error


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


def test_a_name_clash_disables_nothing_else_and_names_both_distributions():
    extra = make_plugin("second", coding="unit2", attention="cummean2")  # only the neuron name clashes
    manager = _manager(_source("first", make_plugin("first")), _source("second", extra))
    first, second = manager.plugins["first"], manager.plugins["second"]
    assert first.status == second.status == "ok"
    assert "neuron 'half' is also registered by dist-second; use dist-first:half" in first.warnings[0]
    with pytest.raises(fastsnn.DuplicateComponentError, match=r"dist-first \(plugin 'first'\) and dist-second"):
        manager.registry.get("neuron", "half")
    assert manager.registry.get("neuron", "dist-second:half").plugin == "second"
    assert manager.registry.get("coding", "unit").distribution == "dist-first"
    assert manager.registry.get("coding", "unit2").distribution == "dist-second"


def test_two_distributions_with_one_entry_point_name_both_load():
    manager = _manager(PluginSource("shared", "dist-a", "1", lambda: make_plugin("a")),
                       PluginSource("shared", "dist-b", "1", lambda: make_plugin("b", neuron="half_b",
                                                                                 coding="unit_b", attention="cm_b")))
    assert manager.plugins["shared"].status == manager.plugins["dist-b:shared"].status == "ok"
    assert "entry point name 'shared' is used by both dist-a and dist-b" in manager.plugins["shared"].warnings[0]
    assert manager.registry.names("neuron") == ["half", "half_b"]


def test_a_plugin_calling_sys_exit_is_broken_not_fatal():
    def load():
        raise SystemExit(3)

    manager = _manager(PluginSource("exiter", "dist-exit", "1", load), _source("toy", make_plugin()))
    assert manager.plugins["exiter"].status == "broken"
    assert "called sys.exit(3)" in manager.plugins["exiter"].error
    assert manager.registry.names("neuron") == ["half"]


def test_a_component_breaking_its_kinds_contract_is_refused_when_the_plugin_loads():
    class NoSpikes(fastsnn.SpikingNeuron):
        """Forgot spikes()."""

    class NotANeuron(nn.Module):
        def forward(self, x):
            return x

    for factory, expected in ((NoSpikes, r"class .*NoSpikes does not implement spikes \(required by kind 'neuron': "
                                         r"see fastsnn.SpikingNeuron\)"),
                              (NotANeuron, r"class .*NotANeuron must subclass fastsnn.SpikingNeuron")):
        manager = _manager(_source("bad_neuron", _only_register_hook(factory)), _source("toy", make_plugin()))
        info = manager.plugins["bad_neuron"]
        assert info.status == "broken" and re.search(f"neuron 'bad': {expected}", info.error), info.error
        assert "plugin 'bad_neuron'" in info.error
        assert manager.registry.names("neuron") == ["half"], "the other plugins keep working"


def _only_register_hook(factory):
    mod = types.ModuleType("bad_neuron")

    def fastsnn_register_neurons(register):
        register("bad", factory)

    mod.fastsnn_register_neurons = hookimpl(fastsnn_register_neurons)
    return mod


def test_a_failing_constructor_names_the_component_and_its_plugin():
    class Exploding(fastsnn.SpikingNeuron):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            raise RuntimeError("no GPU kernel for this shape")

        def spikes(self, x):
            return fastsnn.SpikeTensor.dense(x)

    manager = _manager(_source("boom", _only_register_hook(Exploding)))
    with pytest.raises(fastsnn.FastSNNError, match=r"neuron 'bad' from plugin 'boom' \(dist-boom 1.0\) failed to build: "
                                                   r"RuntimeError: no GPU kernel"):
        manager.registry.create("neuron", "bad")


def test_create_without_context_or_with_a_non_name_says_what_is_wrong():
    manager = _manager(_source("toy", make_plugin()))
    with pytest.raises(fastsnn.FastSNNError, match=r"attention 'cummean' needs d_model \(supplied by the model builder; "
                                                   r"pass d_model=... when creating it directly\)"):
        manager.registry.create("attention", "cummean", n_heads=2)
    with pytest.raises(fastsnn.FastSNNError, match="a neuron must be named by a non-empty string, got None"):
        manager.registry.create("neuron", None)
    with pytest.raises(fastsnn.FastSNNError, match="a component kind must be a string"):
        manager.registry.create(None, "x")


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
