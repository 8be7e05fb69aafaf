"""hardtanh rule: Hardtanh/ReLU6 → clipped_sint, within θ/2 of the original."""

import pytest
import torch
from torch import nn

from fastsnn import FastSNNError
from fastsnn.convert import convert
from fastsnn_example import ClippedSINTNeuron


@pytest.mark.parametrize(("activation", "levels"), [
    (nn.Hardtanh(), 16), (nn.ReLU6(), 12), (nn.Hardtanh(-1.0, 2.0), 16), (nn.Hardtanh(-0.5, 0.5), 2),
])
def test_conversion_is_within_half_a_threshold(activation, levels):
    model = nn.Sequential(nn.Linear(8, 8), activation)
    snn, report = convert(model, rules=[{"name": "hardtanh", "levels": levels}])
    neuron = snn[1]
    assert isinstance(neuron, ClippedSINTNeuron)
    assert neuron.params.threshold == pytest.approx((activation.max_val - activation.min_val) / levels)
    x = torch.randn(64, 8) * 4
    with torch.no_grad():
        error = (snn(x) - model(x)).abs().max()
    assert error <= neuron.params.threshold / 2 + 1e-6
    assert report.by_rule() == {"hardtanh": 1} and f"{levels} levels" in report.replaced[0].note


def test_relu6_counts_span_exactly_the_levels():
    snn, _ = convert(nn.ReLU6(), rules=["hardtanh"])
    counts = snn.spikes(torch.linspace(-10, 10, 101)).counts
    assert counts.min() == 0 and counts.max() == 16


def test_other_activations_are_left_to_other_rules():
    _snn, report = convert(nn.Sequential(nn.ReLU(), nn.Tanh()), rules=["hardtanh"])
    assert report.replaced == [] and [k.type_name for k in report.kept] == ["ReLU", "Tanh"]


def test_bad_levels_are_reported():
    with pytest.raises(FastSNNError, match="levels: Input should be greater than or equal to 2"):
        convert(nn.ReLU6(), rules=[{"name": "hardtanh", "levels": 1}])
