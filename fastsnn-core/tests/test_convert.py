"""The conversion engine (fastsnn.convert) and the seed API, with in-process test rules."""

from __future__ import annotations

import copy
import io
import json

import pytest
import torch
from pydantic import Field, ValidationError
from torch import fx, nn
from torch.nn import functional as F

import fastsnn
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


class PerFeatureNeuron(SpikingNeuron):
    """Counts of x in steps of a per-feature threshold (needs the width ``dim``)."""

    class Params(fastsnn.Params):
        dim: int = Field(gt=0)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.threshold = nn.Parameter(torch.full((self.params.dim,), 0.5))

    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        return SpikeTensor.count((x / self.threshold).round().detach(), self.threshold)


class Spiking(nn.Module):
    """What the test rules put in: ``neuron(activation(x))``."""

    def __init__(self, activation: nn.Module, neuron: nn.Module) -> None:
        super().__init__()
        self.activation, self.neuron = activation, neuron

    def forward(self, x):
        return self.neuron(self.activation(x))


class ActRule(ConversionRule):
    """Wrap ReLU/Tanh modules with the context's neuron."""

    class Params(fastsnn.Params):
        types: tuple[str, ...] = ("ReLU",)

    def matches(self, module, qualname):
        return type(module).__name__ in self.params.types

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
        register("per_feature", PerFeatureNeuron)

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
        with pytest.raises(FastSNNError, match=r"(?s)unknown neuron 'adaptive_threshold'.*provided by fastsnn-neurons"):
            convert_ann_to_snn(TinyANN(4, 8, 2))


def test_tiny_ann_rejects_bad_sizes():
    with pytest.raises(FastSNNError, match="hidden must be a positive integer, got 0"):
        TinyANN(4, 0, 2)


def test_context_width_prefers_the_inferred_one():
    assert ConversionContext(d_model=5, feature_dim=7).width == 7
    assert ConversionContext(d_model=5).width == 5


# -- a module object at several positions ------------------------------------------------------------
def half(x: torch.Tensor) -> torch.Tensor:
    """What HalfNeuron computes (forward value)."""
    return (x / 0.5).round() * 0.5


def test_a_shared_activation_is_converted_at_every_position_each_for_its_width():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(4, 8), relu, nn.Linear(8, 6), relu)
    snn, report = convert(model, rules=["act"], neuron="per_feature")
    assert isinstance(snn[1], Spiking) and isinstance(snn[3], Spiking) and snn[1] is not snn[3]
    assert snn[1].neuron.threshold.shape == (8,) and snn[3].neuron.threshold.shape == (6,)
    assert [(r.qualname, r.rule, r.feature_dim) for r in report.replaced] == [("1", "act", 8), ("3", "act", 6)]
    assert "3 is the same ReLU object as 1: each position got its own Spiking" in report.notes
    x = torch.randn(5, 4)
    with torch.no_grad():
        expected = half(torch.relu(model[2](half(torch.relu(model[0](x))))))
        assert torch.equal(snn(x), expected)


def test_a_shared_module_with_weights_shares_its_replacement():
    tied = nn.Linear(4, 4)
    snn, report = convert(nn.Sequential(tied, nn.Tanh(), tied), rules=["linear_double"])
    assert isinstance(snn[0], nn.Sequential) and snn[0] is snn[2], "tied weights stay tied"
    assert [r.qualname for r in report.replaced] == ["0", "2"]
    assert report.replaced[1].note == "the same Linear object as 0: shares its replacement"
    assert any(n.startswith("2 is the same Linear object as 0 (it has parameters or buffers)") for n in report.notes)


def test_a_shared_container_is_converted_once_and_named_at_its_second_position():
    block = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    snn, report = convert(nn.Sequential(block, block), rules=["act"], neuron="half")
    assert snn[0] is snn[1] and isinstance(snn[0][1], Spiking)
    assert [r.qualname for r in report.replaced] == ["0.1"]
    assert "1 is the same Sequential object as 0: converted there, shared here" in report.notes


def test_a_shared_kept_module_is_listed_at_every_position():
    tanh = nn.Tanh()
    _snn, report = convert(nn.Sequential(tanh, nn.ReLU(), tanh), rules=["act"])
    assert [(k.qualname, k.type_name) for k in report.kept] == [("0", "Tanh"), ("2", "Tanh")]


# -- activations called as functions -------------------------------------------------------------------
class TwoLayers(nn.Module):
    """``fc1`` (4→8) and ``fc2`` (8→3), an unused buffer and a method: subclasses write forward."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 3)
        self.register_buffer("unused", torch.arange(3.0))

    def width(self):
        return 8


class FunctionalMLP(TwoLayers):
    """``fc2(act(fc1(x)))`` with the activation a function held in an attribute (F.relu by default)."""

    def __init__(self, activation=F.relu) -> None:
        super().__init__()
        self.act = activation

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_functional_relu_is_converted_through_torch_fx():
    torch.manual_seed(0)
    model = FunctionalMLP()
    snn, report = convert(model, rules=["act"], neuron="per_feature")
    assert isinstance(snn, fx.GraphModule) and type(snn).__name__ == "FunctionalMLP"
    assert isinstance(snn.fx_relu, Spiking) and snn.fx_relu.neuron.threshold.shape == (8,)
    assert [(r.qualname, r.original, r.replacement, r.rule, r.feature_dim) for r in report.replaced] == [
        ("fx_relu", "F.relu", "Spiking", "act", 8)]
    assert report.replaced[0].note == "functional call in FunctionalMLP.forward"
    assert report.not_converted == []
    assert "(root) (FunctionalMLP): 1 functional activation(s) converted by tracing its forward with torch.fx" in (
        report.notes[0])
    x = torch.randn(5, 4)
    with torch.no_grad():
        assert torch.equal(snn(x), model.fc2(half(torch.relu(model.fc1(x)))))
    state = snn.state_dict()  # every original entry under its name, plus the new neuron's parameter
    assert set(state) == set(model.state_dict()) | {"fx_relu.neuron.threshold"}
    assert torch.equal(state["unused"], torch.arange(3.0))
    assert isinstance(model.act, type(F.relu)), "the input model is untouched"


@pytest.mark.parametrize("call", [torch.relu, lambda h: h.relu(), lambda h: F.relu(h, inplace=True)])
def test_every_spelling_of_relu_is_converted(call):
    class Spelled(TwoLayers):
        def forward(self, x):
            return self.fc2(call(self.fc1(x)))

    snn, report = convert(Spelled(), rules=["act"], neuron="half")
    assert report.by_rule() == {"act": 1} and report.not_converted == []
    x = torch.randn(2, 4)
    with torch.no_grad():
        assert torch.equal(snn(x), snn.fc2(half(torch.relu(snn.fc1(x)))))


def test_arguments_of_the_call_reach_the_equivalent_module():
    model = FunctionalMLP(activation=lambda h: F.gelu(h, approximate="tanh"))
    snn, report = convert(model, rules=[{"name": "act", "types": ["GELU"]}], neuron="half")
    assert isinstance(snn.fx_gelu.activation, nn.GELU) and snn.fx_gelu.activation.approximate == "tanh"
    assert report.replaced[0].original == "F.gelu"


def test_a_converted_graph_module_copies_pickles_and_converts_again_to_nothing():
    snn, _ = convert(FunctionalMLP(), rules=["act"], neuron="half")
    x = torch.randn(3, 4)
    with torch.no_grad():
        expected = snn(x)
        assert torch.equal(copy.deepcopy(snn)(x), expected)
        buffer = io.BytesIO()
        torch.save(snn, buffer)
        buffer.seek(0)
        assert torch.equal(torch.load(buffer, weights_only=False)(x), expected)
    _again, report = convert(snn, rules=["act"])
    assert report.replaced == [] and report.not_converted == []


def test_functional_calls_in_a_nested_module_are_converted_there():
    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = FunctionalMLP()
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            return self.head(self.block(x))

    snn, report = convert(Outer(), rules=["act"], neuron="half")
    assert type(snn) is Outer and isinstance(snn.block, fx.GraphModule)
    assert [r.qualname for r in report.replaced] == ["block.fx_relu"]
    assert snn(torch.randn(2, 4)).shape == (2, 2)


def test_a_functional_activation_no_rule_matches_is_named():
    _snn, report = convert(FunctionalMLP(activation=torch.tanh), rules=["act"])
    assert [(n.qualname, n.call, n.reason) for n in report.not_converted] == [("", "torch.tanh", "no rule matched")]
    assert "1 functional activation(s) not converted" in str(report)
    assert json.loads(json.dumps(report.as_dict()))["not_converted"][0]["call"] == "torch.tanh"


def test_a_forward_that_does_not_trace_is_named_with_the_reason():
    class Branching(TwoLayers):
        def forward(self, x):
            h = self.fc1(x)
            if h.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                h = F.relu(h)
            return self.fc2(h)

    model = Branching()
    snn, report = convert(model, rules=["act"], neuron="half")
    assert type(snn) is Branching
    [entry] = report.not_converted
    assert (entry.qualname, entry.call) == ("", "relu (named in its code)")
    assert entry.reason.startswith("Branching.forward does not trace with torch.fx (TraceError: ")
    assert "not converted (activations called as functions):" in str(report)


def test_a_forward_that_reads_the_training_flag_is_not_traced():
    class WithDropout(TwoLayers):
        def forward(self, x):
            return self.fc2(F.dropout(F.relu(self.fc1(x)), 0.5, self.training))

    snn, report = convert(WithDropout(), rules=["act"], neuron="half")
    assert type(snn) is WithDropout
    assert [(n.call, n.reason) for n in report.not_converted] == [
        ("F.relu", "its methods read self.training, which tracing WithDropout.forward with torch.fx would freeze")]


def test_an_in_place_call_whose_input_is_used_again_is_not_converted():
    class InPlace(TwoLayers):
        def forward(self, x):
            h = self.fc1(x)
            F.relu(h, inplace=True)  # relies on modifying h
            return self.fc2(h)

    snn, report = convert(InPlace(), rules=["act"], neuron="half")
    assert type(snn) is InPlace
    assert [n.call for n in report.not_converted] == ["F.relu"]
    assert report.not_converted[0].reason.startswith("an in-place call whose input is used again")


def test_tracing_leaves_no_trace_on_the_module():
    class Caching(TwoLayers):
        def forward(self, x):
            self.last = self.fc1(x)  # a side effect that tracing would leave as a Proxy
            return self.fc2(F.relu(self.last))

    model = Caching()
    model.last = None
    snn, _ = convert(model, rules=["linear_identity"])  # no activation rule: traced, nothing converted
    assert type(snn) is Caching and snn.last is None


def test_transformer_layer_default_activation_is_converted_and_its_fused_path_disabled():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True, dropout=0.0)
    snn, report = convert(layer, rules=["act"], neuron="per_feature")
    assert isinstance(snn.activation, Spiking) and snn.activation.neuron.threshold.shape == (16,)
    assert [(r.qualname, r.original, r.feature_dim) for r in report.replaced] == [("activation", "F.relu", 16)]
    assert "disabled TransformerEncoderLayer's fused inference path" in report.notes[0]
    x = torch.randn(2, 5, 8)
    snn.eval()
    with torch.no_grad():
        inference = snn(x)  # eval + no_grad: where torch would take the fused path
    assert torch.allclose(inference, snn(x).detach(), atol=1e-6)
    _snn, report = convert(layer, rules=["linear_identity"])
    assert [(n.qualname, n.call, n.reason) for n in report.not_converted] == [
        ("", "activation=F.relu", "no rule matched")]
