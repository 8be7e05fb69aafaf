"""OutputReadOut, the one process-wide read-out hook that plugins' event blocks share, and SpikeTrainBase,
the base of their spike-train objects."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from fastsnn.output_read_out import OutputReadOut, SpikeTrainBase, read_out


def test_marked_models_are_read_out_nested_and_the_hook_goes_away():
    read_out = OutputReadOut(lambda output: output * 0 + 7)
    model, other = nn.Linear(2, 2), nn.Linear(2, 2)
    x = torch.ones(1, 2)
    plain = model(x)
    read_out.mark(model)
    read_out.mark(model)  # nested blocks
    assert torch.equal(model(x), torch.full((1, 2), 7.0)) and not torch.equal(other(x), torch.full((1, 2), 7.0))
    copied = copy.deepcopy(model)  # a copy taken inside a block is a plain model
    assert not read_out.is_marked(copied) and torch.equal(copied(x), plain)
    assert torch.equal(pickle.loads(pickle.dumps(model))(x), plain)
    read_out.unmark(model)
    assert read_out.is_marked(model) and torch.equal(model(x), torch.full((1, 2), 7.0))
    read_out.unmark(model)
    assert not read_out.is_marked(model) and read_out._handle is None
    assert torch.equal(model(x), plain)
    read_out.unmark(model)  # one unmark too many changes nothing
    assert read_out._handle is None


class _Train(SpikeTrainBase):
    """A minimal train: events [T, *S] with one weight per step (what a plugin's train holds)."""

    def __init__(self, events: torch.Tensor, weights: torch.Tensor) -> None:
        self.events, self.weights = events, weights

    def to_dense(self) -> torch.Tensor:
        return torch.einsum("t...,t->...", self.events, self.weights)


def test_a_spike_train_is_read_out_by_any_torch_function_and_inside_containers():
    events = torch.tensor([[[1.0, 0.0, 1.0]], [[0.0, 1.0, 1.0]]])  # T=2, S=(1, 3)
    train = _Train(events, torch.tensor([2.0, 1.0]))
    dense = torch.tensor([[2.0, 1.0, 3.0]])
    assert torch.equal(torch.relu(torch.sub(train, 2)), torch.relu(dense - 2))
    assert torch.equal(dense * train, dense * dense)  # a tensor's operator hands the train to torch
    assert torch.equal(F.linear(train, torch.eye(3)), dense)
    assert torch.equal(torch.cat([train, dense]), torch.cat([dense, dense]))  # inside a list
    nested = read_out({"a": (train, 1), "b": [train]})
    assert torch.equal(nested["a"][0], dense) and nested["a"][1] == 1 and torch.equal(nested["b"][0], dense)
    assert read_out("unchanged") == "unchanged"


def test_a_spike_train_must_say_how_it_reads_out():
    class NoReadOut(SpikeTrainBase):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoReadOut()
