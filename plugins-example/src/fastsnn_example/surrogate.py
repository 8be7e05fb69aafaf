"""``superspike``: the SuperSpike surrogate gradient, a third-party surrogate on core alone.

Zenke & Ganguli, "SuperSpike: Supervised Learning in Multilayer Spiking Neural Networks" (2018):
the spike's pseudo-derivative is the derivative of a fast sigmoid,

    σ'(u) = 1 / (1 + β|u|)²,        σ(u) = u / (1 + β|u|)   (its primitive),

where ``u`` is the membrane's distance to the threshold in threshold units. Subclassing core's
:class:`fastsnn.Surrogate` gives both spike functions for free — ``heaviside(u)`` (binary
spikes) and ``round(u)`` (integer counts, gradient ``σ'(u − ⌊u⌋ − ½)``) — so any neuron that
takes a ``surrogate`` parameter can use it by name: ``{"name": "superspike", "beta": 10}``.
"""

from __future__ import annotations

import torch
from pydantic import Field

import fastsnn


class SuperSpikeSurrogate(fastsnn.Surrogate):
    """SuperSpike: σ'(u) = 1/(1+β|u|)², the derivative of the fast sigmoid u/(1+β|u|)."""

    name = "superspike"

    class Params(fastsnn.Params):
        beta: float = Field(10.0, gt=0, description="steepness β: larger is closer to the true step")

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        """``σ'(u) = 1 / (1 + β|u|)²`` elementwise (same shape and dtype as ``u``)."""
        return (1.0 + self.params.beta * u.abs()).reciprocal().square()

    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        """``σ(u) = u / (1 + β|u|)``, whose derivative is :meth:`derivative`."""
        return u / (1.0 + self.params.beta * u.abs())
