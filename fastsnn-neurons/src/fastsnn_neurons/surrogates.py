"""The surrogate gradients this package registers (kind ``surrogate``): ``ste``, ``atan``,
``sigmoid``, ``rectangular``, ``triangle``.

The contract is core's :class:`fastsnn.Surrogate` (``fastsnn/surrogate.py``): a surrogate gives
``σ'(u)`` (:meth:`~fastsnn.Surrogate.derivative`) and a smooth step whose derivative it is
(:meth:`~fastsnn.Surrogate.primitive`); core turns it into the two spike functions
``heaviside`` (forward ``1[u ≥ 0]``) and ``round`` (forward ``round(u)``, backward
``σ'(u − ⌊u⌋ − ½)``). A third-party surrogate subclasses ``fastsnn.Surrogate`` and needs
``fastsnn-core`` alone.

The surrogates here integrate to one (``∫σ' = 1``), so ``rectangular`` with width 1 applied to
``round`` is the plain straight-through identity. Which surrogate a neuron uses is a name in
the registry (``fastsnn.create("surrogate", "atan", alpha=2.0)``), never an if/elif chain.
Each parameter is declared once, in the class's ``Params``; values are read from ``self.params``.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field

from fastsnn import Params, Surrogate


class StraightThrough(Surrogate):
    """Straight-through estimator: σ'(u) = scale (the identity gradient when scale = 1)."""

    name = "ste"

    class Params(Params):
        scale: float = Field(1.0, gt=0, description="slope of the straight-through gradient (1 = identity)")

    @property
    def constant_derivative(self) -> float:  # type: ignore[override]
        """σ' is the constant ``scale``: backward saves no tensor."""
        return self.params.scale

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        return torch.full_like(u, self.params.scale)

    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        return self.params.scale * u


class ArcTan(Surrogate):
    """σ(u) = ½ + arctan(π/2·α·u)/π, σ'(u) = (α/2) / (1 + (π/2·α·u)²)  (SpikingJelly's ATan)."""

    name = "atan"

    class Params(Params):
        alpha: float = Field(2.0, gt=0, description="slope α: larger is sharper (peak σ'(0) = α/2)")

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        alpha = self.params.alpha
        return (alpha / 2) / (1 + (math.pi / 2 * alpha * u) ** 2)

    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        return 0.5 + torch.atan(math.pi / 2 * self.params.alpha * u) / math.pi


class Sigmoid(Surrogate):
    """σ(u) = sigmoid(α·u), σ'(u) = α·s·(1 − s) with s = sigmoid(α·u)."""

    name = "sigmoid"

    class Params(Params):
        alpha: float = Field(4.0, gt=0, description="slope α: larger is sharper (peak σ'(0) = α/4)")

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        alpha = self.params.alpha
        s = torch.sigmoid(alpha * u)
        return alpha * s * (1 - s)

    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.params.alpha * u)


class Rectangular(Surrogate):
    """σ'(u) = 1/w for |u| < w/2, else 0 (a box of width w and area 1)."""

    name = "rectangular"

    class Params(Params):
        width: float = Field(1.0, gt=0, description="width w of the box (in threshold units)")

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        width = self.params.width
        return (u.abs() < width / 2).to(u.dtype) / width

    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        return torch.clamp(u / self.params.width + 0.5, 0.0, 1.0)


class Triangle(Surrogate):
    """σ'(u) = max(0, 1 − |u|/w) / w (a triangle of half-width w and area 1)."""

    name = "triangle"

    class Params(Params):
        width: float = Field(1.0, gt=0, description="half-width w of the triangle (in threshold units)")

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        width = self.params.width
        return torch.clamp(1 - u.abs() / width, min=0) / width

    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        w = self.params.width
        c = torch.clamp(u, -w, w)
        # ∫σ' from -w: (c+w)²/(2w²) left of 0, 1 − (w−c)²/(2w²) right of 0
        return torch.where(c < 0, (c + w) ** 2 / (2 * w * w), 1 - (w - c) ** 2 / (2 * w * w))


#: the surrogates this package registers
SURROGATES: tuple[type[Surrogate], ...] = (StraightThrough, ArcTan, Sigmoid, Rectangular, Triangle)
