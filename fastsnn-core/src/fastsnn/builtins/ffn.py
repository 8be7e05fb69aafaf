"""Spike-aware feed-forward blocks (kind ``ffn``)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from fastsnn.factory import build_ref

ACTIVATIONS = {"relu": F.relu, "silu": F.silu, "gelu": F.gelu, "none": None}


class PulseFFN(nn.Module):
    """``down(neuron(act(up(x))))``: the hidden activation is turned into spikes (sINT counts in training).

    The activation (ReLU by default) keeps the block non-linear whatever the neuron's sign mode:
    a signed sINT neuron on its own is a quantised identity.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        activation: Literal["relu", "silu", "gelu", "none"] = Field(
            "relu", description="applied before the neuron ('none': the neuron is the only non-linearity)")
        bias: bool = Field(False, description="use biases in the two projections")

    def __init__(self, d_model: int, d_ff: int, neuron: Any = "adaptive_threshold", activation: str = "relu",
                 bias: bool = False) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, d_ff, bias=bias)
        self.act = ACTIVATIONS[activation]
        self.neuron = build_ref("neuron", neuron)
        self.down = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., d_model)
        hidden = self.up(x)  # (..., d_ff)
        if self.act is not None:
            hidden = self.act(hidden)
        return self.down(self.neuron(hidden))


class SwiGLUFFN(nn.Module):
    """``down(spike(silu(gate(x)) · up(x)))``; with ``spiking=false`` a plain SwiGLU."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        spiking: bool = Field(True, description="pass the gated hidden state through the neuron")
        bias: bool = False

    def __init__(self, d_model: int, d_ff: int, neuron: Any = "adaptive_threshold", spiking: bool = True,
                 bias: bool = False) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, d_ff, bias=bias)
        self.up = nn.Linear(d_model, d_ff, bias=bias)
        self.down = nn.Linear(d_ff, d_model, bias=bias)
        self.neuron = build_ref("neuron", neuron) if spiking else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., d_model)
        return self.down(self.neuron(F.silu(self.gate(x)) * self.up(x)))
