"""The spiking-neuron contract.

A neuron maps real inputs to spike counts. ``forward(x)`` returns the real value those spikes
carry (``counts · scale``), so a neuron drops into any ``nn.Module`` in place of an activation;
``spikes(x)`` returns the :class:`SpikeTensor` itself (count view) for inspection and export.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import nn

from fastsnn.spike_tensor import SpikeTensor


class SpikingNeuron(nn.Module):
    """Base class of registered neurons (kind ``neuron``)."""

    @abstractmethod
    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        """``x [..., D]`` → a count-view SpikeTensor of the same shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [..., D]`` → ``counts · scale`` (same shape), differentiable through the surrogate."""
        return self.spikes(x).to_dense()
