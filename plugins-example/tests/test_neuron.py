"""clipped_sint: formula, clipping, gradient, params."""

import pytest
import torch

import fastsnn
from fastsnn import FastSNNError


def test_counts_by_hand():
    neuron = fastsnn.create("neuron", "clipped_sint", threshold=0.5, min_count=-2, max_count=3)
    x = torch.tensor([-3.0, -0.8, -0.2, 0.24, 0.26, 0.9, 1.49, 7.0])
    spikes = neuron.spikes(x)
    assert spikes.counts.tolist() == [-2, -2, 0, 0, 1, 2, 3, 3]
    assert torch.equal(neuron(x), spikes.counts * 0.5)
    assert spikes.firing_rate == pytest.approx(13 / 8)


def test_error_is_at_most_half_a_threshold_inside_the_range():
    neuron = fastsnn.create("neuron", "clipped_sint", threshold=0.1, min_count=0, max_count=20)
    x = torch.rand(1000) * 2.0
    assert torch.all((neuron(x) - x).abs() <= 0.05 + 1e-6)


def test_gradient_is_straight_through_inside_and_zero_outside():
    neuron = fastsnn.create("neuron", "clipped_sint", threshold=1.0, min_count=0, max_count=4)
    x = torch.tensor([-1.0, 0.5, 2.2, 3.9, 6.0], requires_grad=True)
    neuron(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_works_on_any_leading_shape():
    neuron = fastsnn.create("neuron", "clipped_sint")
    assert neuron(torch.randn(2, 3, 5, 7)).shape == (2, 3, 5, 7)


def test_bad_params_are_reported():
    with pytest.raises(FastSNNError, match=r"threshold: Input should be greater than 0"):
        fastsnn.create("neuron", "clipped_sint", threshold=0)
    with pytest.raises(FastSNNError, match=r"min_count \(3\) must be smaller than max_count \(3\)"):
        fastsnn.create("neuron", "clipped_sint", min_count=3, max_count=3)
    with pytest.raises(FastSNNError, match="Extra inputs are not permitted"):
        fastsnn.create("neuron", "clipped_sint", k=3)
    from fastsnn_example import ClippedSINTNeuron

    with pytest.raises(FastSNNError, match=r"bad parameters for ClippedSINTNeuron:\n.*threshold: Input should be greater"):
        ClippedSINTNeuron(threshold=-1.0)


def test_python_and_registry_give_the_same_params():
    from fastsnn_example import ClippedSINTNeuron

    built = fastsnn.create("neuron", "clipped_sint", threshold=0.5)
    direct = ClippedSINTNeuron(threshold=0.5)
    assert built.params == direct.params == ClippedSINTNeuron.Params(threshold=0.5, min_count=0, max_count=15)
    assert repr(direct) == "ClippedSINTNeuron(threshold=0.5, min_count=0, max_count=15)"
