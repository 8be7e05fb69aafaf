"""SpikeTensor views with an in-test coding (the real codings are tested in fastsnn-neurons)."""

import pytest
import torch

from fastsnn import FastSNNError, SpikeTensor
from fastsnn.testing import use_plugins
from toy_plugins import UnitCoding, make_plugin


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


def test_dense_view():
    x = torch.randn(2, 3)
    st = SpikeTensor.dense(x)
    assert st.view == "dense" and st.to_dense() is x and st.num_steps == 1 and st.shape == (2, 3)
    with pytest.raises(FastSNNError, match="pass it through a neuron"):
        st.to_count()
    with pytest.raises(FastSNNError, match="no firing rate"):
        _ = st.firing_rate


def test_count_view_values_and_stats():
    counts = torch.tensor([[0, 2, 0, 1]])
    st = SpikeTensor.count(counts, 0.5)
    assert torch.equal(st.to_dense(), torch.tensor([[0.0, 1.0, 0.0, 0.5]]))
    assert st.firing_rate == pytest.approx(0.75) and st.sparsity == pytest.approx(0.5)
    assert st.num_steps == 1 and st.scale.item() == 0.5


def test_count_to_events_and_back_is_exact():
    counts = torch.tensor([[3, 0, 1], [2, 5, 4]])
    events = SpikeTensor.count(counts, 0.25).to_events("unit")
    assert events.view == "event" and events.num_steps == 5 and events.spikes.shape == (5, 2, 3)
    assert torch.equal(events.to_count().counts, counts)
    assert torch.equal(events.to_dense(), counts.float() * 0.25)
    assert events.firing_rate == pytest.approx(counts.sum().item() / (5 * 6))
    assert events.sparsity == pytest.approx(1 - counts.sum().item() / (5 * 6))


def test_float_counts_keep_gradients():
    x = torch.tensor([0.4, 1.6], requires_grad=True)
    counts = x * 2 + ((x * 2).round() - x * 2).detach()
    SpikeTensor.count(counts, 0.5).to_dense().sum().backward()
    assert torch.allclose(x.grad, torch.ones(2))


def test_events_constructor_checks_values_and_dtypes():
    coding = UnitCoding()
    st = SpikeTensor.events(torch.tensor([[1, 0], [1, 1]]), 1.0, coding)
    assert torch.equal(st.counts, torch.tensor([2, 1]))
    with pytest.raises(FastSNNError, match=r"values in \{0, 1\}"):
        SpikeTensor.events(torch.tensor([[2, 0]]), 1.0, coding)
    with pytest.raises(FastSNNError, match="must hold integers"):
        SpikeTensor.events(torch.tensor([[0.5, 0.0]]), 1.0, coding)
    with pytest.raises(FastSNNError, match="bool, integer or float"):
        SpikeTensor.events(torch.zeros(2, 2, dtype=torch.complex64), 1.0, coding)
    with pytest.raises(FastSNNError, match="leading time axis"):
        SpikeTensor.events(torch.tensor(1), 1.0, coding)


def test_bad_counts_are_rejected():
    with pytest.raises(FastSNNError, match="integer values"):
        SpikeTensor.count(torch.tensor([0.5]), 1.0)
    with pytest.raises(FastSNNError, match="torch.Tensor"):
        SpikeTensor.count([1, 2], 1.0)


def test_unknown_coding_name_suggests():
    with pytest.raises(FastSNNError, match="did you mean 'unit'"):
        SpikeTensor.count(torch.tensor([1]), 1.0).to_events("unti")
