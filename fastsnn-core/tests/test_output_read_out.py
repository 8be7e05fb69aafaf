"""OutputReadOut: the one process-wide read-out hook that plugins' event blocks share."""

from __future__ import annotations

import copy
import pickle

import torch
from torch import nn

from fastsnn.output_read_out import OutputReadOut


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
