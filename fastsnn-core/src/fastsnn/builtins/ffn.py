"""Spike-aware feed-forward blocks (kind ``ffn``)."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from fastsnn.factory import build_ref


class PulseFFN(nn.Module):
    """``down(neuron(up(x)))``: the hidden activation is a spiking neuron (sINT counts in training)."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        bias: bool = Field(False, description="use biases in the two projections")

    def __init__(self, d_model: int, d_ff: int, neuron: Any = "adaptive_threshold", bias: bool = False) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, d_ff, bias=bias)
        self.neuron = build_ref("neuron", neuron)
        self.down = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., d_model)
        return self.down(self.neuron(self.up(x)))


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
