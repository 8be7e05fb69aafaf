"""A kind this plugin declares itself: ``spike_regularizer``, penalties on spike counts.

FastSNN's kinds (neuron, attention, coding, …) are not closed: a plugin declares a new one
through the ``fastsnn_register_kinds`` hook (see :mod:`fastsnn_example.plugin`), naming the hook
that registers components of it (``fastsnn_register_spike_regularizers``) and the contract —
:class:`SpikeRegularizer` here. Any plugin can then register spike regularizers, and they are
listed, described, validated, suggested ("did you mean") and isolated like core's kinds.

A spike regularizer maps the spikes of a layer to a scalar added to the training loss, e.g. to
keep firing rates (and so energy on neuromorphic hardware) low.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import torch
from pydantic import Field

import fastsnn
from fastsnn import SpikeTensor


class SpikeRegularizer(fastsnn.Component):
    """Base class of kind ``spike_regularizer``: implement :meth:`penalty`; settings in a nested ``Params``."""

    def __init__(self, *, params: fastsnn.Params | Mapping[str, Any] | None = None, **values: Any) -> None:
        self.init_params(params, values)

    @abstractmethod
    def penalty(self, spikes: SpikeTensor) -> torch.Tensor:
        """A scalar (0-d tensor, differentiable through the spikes) for a count- or event-view SpikeTensor."""

    def __call__(self, spikes: SpikeTensor) -> torch.Tensor:
        return self.penalty(spikes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params_repr()})"


class FiringRateRegularizer(SpikeRegularizer):
    """weight · (mean |count| − target)²: pulls the mean spike count per value toward target."""

    class Params(fastsnn.Params):
        target: float = Field(0.5, ge=0, description="wanted mean |spike count| per value")
        weight: float = Field(0.01, ge=0, description="strength of the penalty")

    def penalty(self, spikes: SpikeTensor) -> torch.Tensor:
        rate = spikes.counts.abs().float().mean()
        return self.params.weight * (rate - self.params.target) ** 2
