"""Spike-aware feed-forward blocks (kind ``ffn``).

The block receives its spiking neuron as a built module (the model builder makes it from the
config's ``neuron`` reference), so this module needs no registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from fastsnn.neuron import SpikingNeuron
from fastsnn.params import Component, Params

#: ``gelu_tanh`` is the tanh approximation (GPT-2's ``gelu_new``, Hendrycks & Gimpel 2016)
ACTIVATIONS = {"relu": F.relu, "silu": F.silu, "gelu": F.gelu, "gelu_tanh": partial(F.gelu, approximate="tanh"),
               "none": None}


class PulseFFN(Component, nn.Module):
    """``down(neuron(act(up(x))))``: the hidden activation is turned into spikes (sINT counts in training).

    The activation (ReLU by default) keeps the block non-linear whatever the neuron's sign mode:
    a signed sINT neuron on its own is a quantised identity. With ``spiking=false`` a plain MLP
    ``down(act(up(x)))`` (e.g. a converted GPT-2 block before its neurons are switched on).
    ``x [..., d_model]`` → same shape.
    """

    class Params(Params):
        activation: Literal["relu", "silu", "gelu", "gelu_tanh", "none"] = Field(
            "relu", description="applied before the neuron ('none': the neuron is the only non-linearity; "
            "'gelu_tanh': GELU's tanh approximation, GPT-2's)")
        bias: bool = Field(False, description="use biases in the two projections")
        spiking: bool = Field(True, description="pass the hidden activation through the neuron")

    def __init__(self, d_model: int, d_ff: int, neuron: nn.Module, *, params: Params | Mapping[str, Any] | None = None,
                 **values: Any) -> None:
        nn.Module.__init__(self)
        self.init_params(params, values)
        self.up = nn.Linear(d_model, d_ff, bias=self.params.bias)
        self.act = ACTIVATIONS[self.params.activation]
        self.neuron = neuron if self.params.spiking else nn.Identity()
        self.down = nn.Linear(d_ff, d_model, bias=self.params.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., d_model)
        hidden = self.up(x)  # (..., d_ff)
        if self.act is not None:
            hidden = self.act(hidden)
        return self.down(fire(self.neuron, hidden, self.down))


class SwiGLUFFN(Component, nn.Module):
    """``down(neuron(silu(gate(x)) · up(x)))`` (Shazeer 2020, "GLU Variants Improve Transformer");
    with ``spiking=false`` a plain SwiGLU. ``x [..., d_model]`` → same shape."""

    class Params(Params):
        spiking: bool = Field(True, description="pass the gated hidden state through the neuron")
        bias: bool = Field(False, description="use biases in the three projections")

    def __init__(self, d_model: int, d_ff: int, neuron: nn.Module, *, params: Params | Mapping[str, Any] | None = None,
                 **values: Any) -> None:
        nn.Module.__init__(self)
        self.init_params(params, values)
        self.gate = nn.Linear(d_model, d_ff, bias=self.params.bias)
        self.up = nn.Linear(d_model, d_ff, bias=self.params.bias)
        self.down = nn.Linear(d_ff, d_model, bias=self.params.bias)
        self.neuron = neuron if self.params.spiking else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., d_model)
        return self.down(fire(self.neuron, F.silu(self.gate(x)) * self.up(x), self.down))


def fire(neuron: nn.Module, hidden: torch.Tensor, consumer: nn.Module) -> Any:
    """The neuron's output for ``consumer``: its spikes (a count-view SpikeTensor) when the consumer
    takes them (``accepts_spikes``, e.g. the int8 layer of :mod:`fastsnn.quantize`, which multiplies
    the integer counts), else their real value ``neuron(hidden)``."""
    if getattr(consumer, "accepts_spikes", False) and isinstance(neuron, SpikingNeuron):
        return neuron.spikes(hidden)
    return neuron(hidden)
