"""The kind this plugin declares (spike_regularizer), and core's contract checks at load time."""

import re

import pytest
import torch
from pydantic import BaseModel

import fastsnn
from fastsnn import FastSNNError, SpikeTensor, SpikingNeuron, UnknownComponentError, hookimpl
from fastsnn.config.refs import ref_type
from fastsnn.testing import use_plugins
from fastsnn_example import FiringRateRegularizer, SpikeRegularizer
from fastsnn_example import plugin as example_plugin


def test_the_declared_kind_is_a_kind_like_cores(_only_this_plugin):
    assert "spike_regularizer" in fastsnn.kinds()
    info = _only_this_plugin.plugins["fastsnn_example.plugin"]
    assert info.kinds == ["spike_regularizer"] and "spike_regularizer:firing_rate" in info.components
    [listed] = fastsnn.components("spike_regularizer")
    assert listed["name"] == "firing_rate" and set(listed["params"]["properties"]) == {"target", "weight"}
    assert listed["description"] == "weight · (mean |count| − target)²: pulls the mean spike count per value toward target."


def test_firing_rate_penalty_by_hand():
    regularizer = fastsnn.create("spike_regularizer", "firing_rate", target=1.0, weight=0.5)
    assert isinstance(regularizer, SpikeRegularizer)
    counts = torch.tensor([0.0, 2.0, 3.0, -1.0], requires_grad=True)  # mean |count| = 1.5
    penalty = regularizer(SpikeTensor.count(counts, 0.5))
    assert penalty.item() == pytest.approx(0.5 * 0.5**2)
    penalty.backward()
    assert counts.grad.tolist() == pytest.approx([0.0, 0.125, 0.125, -0.125])  # 0.5·2·0.5·sign/4


def test_names_params_and_config_references_are_checked():
    with pytest.raises(UnknownComponentError, match=r"unknown spike_regularizer 'firing_rat' \(did you mean "
                                                    r"'firing_rate'\?\)"):
        fastsnn.create("spike_regularizer", "firing_rat")
    with pytest.raises(FastSNNError, match=r"weight: Input should be greater than or equal to 0"):
        fastsnn.create("spike_regularizer", "firing_rate", weight=-1)
    ref = ref_type("spike_regularizer").model_validate({"name": "firing_rate", "target": 2.0})
    assert fastsnn.build_ref("spike_regularizer", ref).params == FiringRateRegularizer.Params(target=2.0)


def test_a_component_that_breaks_its_kinds_contract_is_refused_at_load():
    class NoSpikes(SpikingNeuron):
        """A neuron that forgot spikes()."""

    class NoPenalty(SpikeRegularizer):
        """A regularizer that forgot penalty()."""

    class LooseParams(SpikingNeuron):
        class Params(BaseModel):  # accepts unknown fields: misspelt parameters would pass silently
            k: float = 1.0

        def spikes(self, x):
            return SpikeTensor.count(x.round(), 1.0)

    class Broken:
        def __init__(self, kind, cls):
            self.kind, self.cls = kind, cls

        @hookimpl
        def fastsnn_register_neurons(self, register):
            if self.kind == "neuron":
                register("bad", self.cls)

        @hookimpl
        def fastsnn_register_spike_regularizers(self, register):
            if self.kind == "spike_regularizer":
                register("bad", self.cls)

    cases = [
        ("neuron", NoSpikes, r"neuron 'bad': class .*NoSpikes does not implement spikes \(required by kind "
                             r"'neuron': see fastsnn.SpikingNeuron\)"),
        ("spike_regularizer", NoPenalty, r"spike_regularizer 'bad': class .*NoPenalty does not implement penalty"),
        ("neuron", LooseParams, r"neuron 'bad': its Params must forbid unknown fields"),
    ]
    for kind, cls, message in cases:
        with use_plugins(example_plugin, ("broken", Broken(kind, cls)), strict=False) as manager:
            broken = manager.plugins["broken"]
            assert broken.status == "broken" and broken.components == []
            assert re.search(message, broken.error), broken.error
            assert manager.plugins["fastsnn_example.plugin"].status == "ok", "the other plugins keep working"
            assert fastsnn.create("neuron", "clipped_sint").params.threshold == 0.25
