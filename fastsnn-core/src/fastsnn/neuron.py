"""The spiking-neuron contract (kind ``neuron``).

A neuron maps real inputs to spike counts. ``forward(x)`` returns the real value those spikes
carry (``counts · scale``), so a neuron drops into any ``nn.Module`` in place of an activation;
``spikes(x)`` returns the :class:`SpikeTensor` itself (count view) for inspection and export.
A registered neuron class must implement :meth:`SpikingNeuron.spikes`; the registry refuses one
that does not when its plugin loads.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fastsnn.params import Component, Params
from fastsnn.spike_tensor import SpikeTensor


class SpikingNeuron(Component, nn.Module):
    """Base class of registered neurons: declare ``Params``, implement :meth:`spikes`.

    ``Neuron(k=3.0)`` and ``Neuron(params=Neuron.Params(k=3.0))`` are the same; the validated
    values are ``self.params``.
    """

    def __init__(self, *, params: Params | Mapping[str, Any] | None = None, **values: Any) -> None:
        nn.Module.__init__(self)
        self.init_params(params, values)

    @abstractmethod
    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        """``x [..., D]`` → a count-view SpikeTensor of the same shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [..., D]`` → ``counts · scale`` (same shape), differentiable through the surrogate."""
        return self.spikes(x).to_dense()

    def extra_repr(self) -> str:
        return self.params_repr()
