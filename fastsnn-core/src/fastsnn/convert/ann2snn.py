"""The seed API: ``convert_ann_to_snn(ann)`` and the ``TinyANN`` it is demonstrated on.

``convert_ann_to_snn`` is :func:`fastsnn.convert.convert` with the registered rules (the
``relu``/``gelu``/``silu``/``linear`` rules come from ``fastsnn-convert``): activations become
adaptive-threshold sINT neurons, Linear layers become temporal wrappers that accept ``[B, D]``
or ``[B, T, D]``, and modules no rule knows are kept as they are.
"""

from __future__ import annotations

import torch
from torch import nn

from fastsnn.convert.engine import convert
from fastsnn.convert.report import ConversionReport
from fastsnn.errors import FastSNNError
from fastsnn.kind_table import DEFAULT_NEURON


class TinyANN(nn.Module):
    """A small MLP to try conversion on: ``Linear → ReLU → Linear → GELU → Linear``.

    Maps ``x [..., in_dim]`` (e.g. ``[B, in_dim]`` or ``[B, T, in_dim]``) to ``[..., out_dim]``.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden", hidden), ("out_dim", out_dim)):
            if not isinstance(value, int) or value <= 0:
                raise FastSNNError(f"TinyANN {name} must be a positive integer, got {value!r}")
        self.in_dim = in_dim
        self.fc1 = nn.Linear(in_dim, hidden)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, hidden)
        self.act2 = nn.GELU()
        self.head = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., in_dim)
        return self.head(self.act2(self.fc2(self.act1(self.fc1(x)))))


def convert_ann_to_snn(
    ann: nn.Module,
    d_model_fallback: int = 128,
    *,
    neuron: str | dict = DEFAULT_NEURON,
    return_report: bool = False,
) -> nn.Module | tuple[nn.Module, ConversionReport]:
    """Convert ``ann`` (left untouched) into a spiking copy with every registered rule.

    :param ann: the network to convert.
    :param d_model_fallback: feature width assumed where the model does not state one.
    :param neuron: the spiking neuron that replaces activations.
    :param return_report: also return the :class:`~fastsnn.convert.ConversionReport`.
    """
    snn, report = convert(ann, neuron=neuron, d_model=d_model_fallback)
    return (snn, report) if return_report else snn
