"""The conversion engine (fastsnn.convert) and the seed API, with in-process test rules."""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from fastsnn import (
    ConversionContext,
    ConversionRule,
    FastSNNError,
    SpikeTensor,
    SpikingNeuron,
    UnknownComponentError,
    hookimpl,
)
from fastsnn.config import ConvertConfig
from fastsnn.convert import convert
from fastsnn.convert.ann2snn import TinyANN, convert_ann_to_snn
from fastsnn.testing import use_plugins


class HalfNeuron(SpikingNeuron):
    """Counts of x in steps of 0.5 (a fixed-threshold stand-in for a real neuron)."""

    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        return SpikeTensor.count((x / 0.5).round().detach() + (x / 0.5 - (x / 0.5).detach()), 0.5)


class Spiking(nn.Module):
    """What the test rules put in: ``neuron(activation(x))``."""

    def __init__(self, activation: nn.Module, neuron: nn.Module) -> None:
        super().__init__()
        self.activation, self.neuron = activation, neuron

    def forward(self, x):
        return self.neuron(self.activation(x))


class ActRule(ConversionRule):
    """Wrap ReLU/Tanh modules with the context's neuron."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        types: tuple[str, ...] = ("ReLU",)

    def __init__(self, types=("ReLU",)):
        self.types = types

    def matches(self, module, qualname):
        return type(module).__name__ in self.types

    def convert(self, module, qualname, context):
        return Spiking(module, context.build_neuron())


class LinearToIdentityRule(ConversionRule):
    """Replace every Linear by Identity (lets tests see priority at work)."""

    priority = 10

    def matches(self, module, qualname):
        return isinstance(module, nn.Linear)

    def convert(self, module, qualname, context):
        return nn.Identity()


class DoublingLinearRule(LinearToIdentityRule):
    """A lower-priority Linear rule that must lose to LinearToIdentityRule."""

    priority = 1

    def convert(self, module, qualname, context):
        return nn.Sequential(module, module)


class ConvertTestPlugin:
    @hookimpl
    def fastsnn_register_neurons(self, register):
        register("adaptive_threshold", HalfNeuron)  # stands in for fastsnn-neurons' neuron
        register("half", HalfNeuron)

    @hookimpl
    def fastsnn_register_conversion_rules(self, register):
        register("act", ActRule)
        register("relu", ActRule)
        register("linear_identity", LinearToIdentityRule)
        register("linear_double", DoublingLinearRule)


@pytest.fixture(autouse=True)
def _plugins():
    with use_plugins(("convert_test", ConvertTestPlugin())):
        yield


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 8), nn.Tanh()), nn.Dropout())


def test_first_matching_rule_by_priority_replaces_and_others_are_kept():
    model = mlp()
    snn, report = convert(model, rules=["linear_double", "act", "linear_identity"], neuron="half")
    assert report.rules == ["linear_identity", "linear_double", "act"]
    assert isinstance(snn[0], nn.Identity) and isinstance(snn[2][0], nn.Identity)
    assert isinstance(snn[1], Spiking) and isinstance(snn[2][1], nn.Tanh)
    assert [(r.qualname, r.rule) for r in report.replaced] == [
        ("0", "linear_identity"), ("1", "act"), ("2.0", "linear_identity")
    ]
    assert [(k.qualname, k.type_name) for k in report.kept] == [("2.1", "Tanh"), ("3", "Dropout")]
    assert isinstance(model[1], nn.ReLU), "the input model is not modified unless inplace=True"


def test_equal_priority_keeps_the_given_order():
    _, report = convert(mlp(), rules=["relu", "act"])
    assert report.rules == ["relu", "act"]
    assert report.by_rule() == {"relu": 1}


def test_rule_params_from_dicts_and_config():
    _snn, report = convert(mlp(), rules=[{"name": "act", "types": ["ReLU", "Tanh"]}], neuron="half")
    assert report.by_rule() == {"act": 2}
    config = ConvertConfig(neuron="half", rules=[{"name": "act", "types": ["Tanh"]}])
    _snn, report = convert(mlp(), config)
    assert [r.qualname for r in report.replaced] == ["2.1"]
    _snn, report = convert(mlp(), {"neuron": "half", "rules": ["act"]})
    assert [r.qualname for r in report.replaced] == ["1"]


def test_default_rules_are_every_registered_rule():
    _, report = convert(mlp())
    assert sorted(report.rules) == ["act", "linear_double", "linear_identity", "relu"]


def test_converting_twice_changes_nothing():
    once, _ = convert(mlp(), rules=["act"])
    twice, report = convert(once, rules=["act"])
    assert report.replaced == []
    assert ("1", "already spiking") in [(k.qualname, k.reason) for k in report.kept]
    x = torch.randn(3, 4)
    assert torch.equal(once.eval()(x), twice.eval()(x))


def test_a_spiking_neuron_is_never_converted():
    _, report = convert(nn.Sequential(HalfNeuron(), nn.ReLU()), rules=["act"])
    assert report.by_rule() == {"act": 1}
    assert report.kept[0].reason == "already spiking"


def test_the_root_itself_can_be_replaced():
    snn, report = convert(nn.ReLU(), rules=["act"], neuron="half")
    assert isinstance(snn, Spiking) and report.replaced[0].qualname == ""
    assert "(root)" in str(report)


def test_module_lists_and_dicts_are_walked():
    class Container(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(4, 4), nn.ReLU()])
            self.heads = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Tanh()})

    snn, report = convert(Container(), rules=["act"])
    assert [r.qualname for r in report.replaced] == ["layers.1", "heads.a"]
    assert isinstance(snn.layers[1], Spiking) and isinstance(snn.heads["a"], Spiking)
    assert isinstance(snn.heads["b"], nn.Tanh)


def test_inplace_modifies_the_given_model():
    model = mlp()
    snn, _ = convert(model, rules=["act"], inplace=True)
    assert snn is model and isinstance(model[1], Spiking)


def test_width_is_inferred_from_the_layer_before():
    model = nn.Sequential(nn.ReLU(), nn.Linear(4, 6), nn.ReLU(), nn.LayerNorm(6), nn.Embedding(3, 5), nn.ReLU())
    _, report = convert(model, rules=["act"], d_model=9)
    assert [r.feature_dim for r in report.replaced] == [9, 6, 5]


def test_report_prints_and_serialises():
    _, report = convert(mlp(), rules=["act"], neuron="half")
    text = str(report)
    assert "1 replaced, 4 kept" in text and "ReLU → Spiking" in text and "no rule matched" in text
    assert json.loads(json.dumps(report.as_dict()))["replaced"][0]["rule"] == "act"
    assert report.kept_types() == {"Linear": 2, "Tanh": 1, "Dropout": 1}


def test_converted_model_runs_and_has_gradients():
    snn, _ = convert(mlp(), rules=["act"], neuron="half")
    x = torch.randn(2, 3, 4, requires_grad=True)
    snn(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


# -- bad input ----------------------------------------------------------------------------------
def test_not_a_module_is_a_clear_error():
    with pytest.raises(FastSNNError, match=r"needs a torch.nn.Module, got OrderedDict.*not its state_dict"):
        convert(mlp().state_dict())


def test_unknown_rule_name_suggests_the_closest():
    with pytest.raises(UnknownComponentError, match=r"unknown rule 'rellu' \(did you mean 'relu'\?\)"):
        convert(mlp(), rules=["rellu"])
    with pytest.raises(ValidationError, match="did you mean 'relu'"):
        convert(mlp(), {"rules": ["rellu"]})


def test_unknown_neuron_name_suggests_the_closest():
    with pytest.raises(UnknownComponentError, match=r"unknown neuron 'halff' \(did you mean 'half'\?\)"):
        convert(mlp(), rules=["act"], neuron="halff")


def test_bad_rule_objects_are_clear_errors():
    with pytest.raises(FastSNNError, match="rules must be names"):
        convert(mlp(), rules=[42])
    with pytest.raises(FastSNNError, match="needs a 'name'"):
        convert(mlp(), rules=[{"types": ["ReLU"]}])
    with pytest.raises(FastSNNError, match=r"bad parameters for rule 'act'.*\n.*colour"):
        convert(mlp(), rules=[{"name": "act", "colour": "red"}])


def test_failing_rules_are_reported_against_the_rule_and_module():
    class Broken(ConversionRule):
        name = "broken"

        def matches(self, module, qualname):
            return isinstance(module, nn.Tanh)

        def convert(self, module, qualname, context):
            raise RuntimeError("boom")

    class ReturnsNone(Broken):
        name = "returns_none"

        def convert(self, module, qualname, context):
            return None

    with pytest.raises(FastSNNError, match=r"rule 'broken' failed on 2.1 \(Tanh\): RuntimeError: boom"):
        convert(mlp(), rules=[Broken()])
    with pytest.raises(FastSNNError, match=r"rule 'returns_none' returned NoneType for 2.1"):
        convert(mlp(), rules=[ReturnsNone()])


def test_bad_fallback_width_is_a_clear_error():
    with pytest.raises(FastSNNError, match="must be a positive integer, got -1"):
        convert(mlp(), rules=["act"], d_model=-1)


def test_no_registered_rules_says_what_to_install():
    with use_plugins():
        with pytest.raises(FastSNNError, match="pip install fastsnn-convert"):
            convert(mlp())


# -- the seed API -------------------------------------------------------------------------------
class ReluOnly:
    @hookimpl
    def fastsnn_register_neurons(self, register):
        register("adaptive_threshold", HalfNeuron)

    @hookimpl
    def fastsnn_register_conversion_rules(self, register):
        register("relu", ActRule)


def test_convert_ann_to_snn_on_tiny_ann():
    ann = TinyANN(in_dim=16, hidden=32, out_dim=10)
    with use_plugins(("relu_only", ReluOnly())):
        snn = convert_ann_to_snn(ann, d_model_fallback=16)
        _snn_b, report = convert_ann_to_snn(ann, return_report=True)
    x = torch.randn(2, 5, 16)
    assert snn(x).shape == ann(x).shape == (2, 5, 10)
    assert isinstance(snn.act1, Spiking) and isinstance(snn.act1.neuron, HalfNeuron)
    assert isinstance(snn.act2, nn.GELU)  # no rule for GELU registered here: kept
    assert report.by_rule() == {"relu": 1}


def test_convert_ann_to_snn_without_the_neuron_package_says_what_to_install():
    class RulesOnly:
        @hookimpl
        def fastsnn_register_conversion_rules(self, register):
            register("relu", ActRule)

    with use_plugins(("rules_only", RulesOnly())):
        with pytest.raises(FastSNNError, match=r"(?s)unknown neuron 'adaptive_threshold'.*pip install fastsnn-neurons"):
            convert_ann_to_snn(TinyANN(4, 8, 2))


def test_tiny_ann_rejects_bad_sizes():
    with pytest.raises(FastSNNError, match="hidden must be a positive integer, got 0"):
        TinyANN(4, 0, 2)


def test_context_width_prefers_the_inferred_one():
    assert ConversionContext(d_model=5, feature_dim=7).width == 7
    assert ConversionContext(d_model=5).width == 5
