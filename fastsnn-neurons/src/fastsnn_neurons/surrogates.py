"""Surrogate gradients (kind ``surrogate``): exact spikes forward, a smooth derivative backward.

A surrogate is a pseudo-derivative ``σ'(u)`` of the Heaviside step ``H(u)`` (``u`` is the
membrane's distance to the threshold, in units of the threshold). Each registered surrogate
gives two differentiable spike functions that share one backward rule:

- :meth:`Surrogate.heaviside` — forward ``H(u) = 1[u ≥ 0]`` (binary spikes, ``if``/``lif``),
  backward ``grad · σ'(u)``;
- :meth:`Surrogate.round` — forward ``round(u)`` (integer spike counts, sINT neurons),
  backward ``grad · σ'(u − ⌊u⌋ − ½)``: the derivative of the nearest rounding step, since
  ``round(u) = Σ_j H(u − j − ½)``.

The surrogates here integrate to one (``∫σ' = 1``), so ``rectangular`` with width 1 applied to
``round`` is the plain straight-through identity. Which surrogate a neuron uses is a name in
the registry (``fastsnn.create("surrogate", "atan", alpha=2.0)``), never an if/elif chain:
plugins add new ones by subclassing :class:`Surrogate` and registering it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field


class HeavisideSpike(torch.autograd.Function):
    """``H(u) = 1[u ≥ 0]`` forward; ``grad · σ'(u)`` backward (σ' from the surrogate)."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        ctx.surrogate = surrogate
        if surrogate.constant_derivative is None:
            ctx.save_for_backward(u)
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        surrogate: Surrogate = ctx.surrogate
        if surrogate.constant_derivative is not None:
            return grad * surrogate.constant_derivative, None
        (u,) = ctx.saved_tensors
        return grad * surrogate.derivative(u), None


class RoundSpike(torch.autograd.Function):
    """``round(u)`` forward (half to even, as :func:`torch.round`); ``grad · σ'(u − ⌊u⌋ − ½)`` backward."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        ctx.surrogate = surrogate
        if surrogate.constant_derivative is None:
            ctx.save_for_backward(u)
        return torch.round(u)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        surrogate: Surrogate = ctx.surrogate
        if surrogate.constant_derivative is not None:
            if surrogate.constant_derivative == 1.0:
                return grad, None
            return grad * surrogate.constant_derivative, None
        (u,) = ctx.saved_tensors
        return grad * surrogate.derivative(distance_to_rounding_step(u)), None


def distance_to_rounding_step(u: torch.Tensor) -> torch.Tensor:
    """``u − (⌊u⌋ + ½)`` in ``[-½, ½)``: the signed distance to the nearest rounding step."""
    return u - torch.floor(u) - 0.5


class Surrogate(ABC):
    """Base class of registered surrogates. Subclasses define :meth:`derivative` and
    :meth:`primitive` (a smooth step whose derivative it is; used as the reference in tests)."""

    #: the registered name (set by subclasses)
    name: str = "surrogate"
    #: a constant σ' (skips saving the input for backward), or None
    constant_derivative: float | None = None

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

    @abstractmethod
    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        """``σ'(u)`` elementwise, same shape and dtype as ``u``."""

    @abstractmethod
    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        """A step-like function ``σ(u)`` with ``dσ/du = σ'(u)`` (differentiable by autograd)."""

    def heaviside(self, u: torch.Tensor) -> torch.Tensor:
        """Binary spikes ``1[u ≥ 0]`` with this surrogate's gradient. ``u``: any shape."""
        return HeavisideSpike.apply(u, self)

    def round(self, u: torch.Tensor) -> torch.Tensor:
        """Integer spike counts ``round(u)`` (float tensor) with this surrogate's gradient."""
        return RoundSpike.apply(u, self)

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        """The hook contract: ``f(u) -> spikes`` is the Heaviside spike."""
        return self.heaviside(u)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class StraightThrough(Surrogate):
    """Straight-through estimator: σ'(u) = scale (the identity gradient when scale = 1)."""

    name = "ste"

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        scale: float = Field(1.0, gt=0, description="slope of the straight-through gradient (1 = identity)")

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(self.Params(scale=scale).scale)
        self.constant_derivative = self.scale

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        return torch.full_like(u, self.scale)

    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        return self.scale * u


class ArcTan(Surrogate):
    """σ(u) = ½ + arctan(π/2·α·u)/π, σ'(u) = (α/2) / (1 + (π/2·α·u)²)  (SpikingJelly's ATan)."""

    name = "atan"

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        alpha: float = Field(2.0, gt=0, description="slope α: larger is sharper (peak σ'(0) = α/2)")

    def __init__(self, alpha: float = 2.0) -> None:
        self.alpha = float(self.Params(alpha=alpha).alpha)

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * u) ** 2)

    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        return 0.5 + torch.atan(math.pi / 2 * self.alpha * u) / math.pi


class Sigmoid(Surrogate):
    """σ(u) = sigmoid(α·u), σ'(u) = α·s·(1 − s) with s = sigmoid(α·u)."""

    name = "sigmoid"

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        alpha: float = Field(4.0, gt=0, description="slope α: larger is sharper (peak σ'(0) = α/4)")

    def __init__(self, alpha: float = 4.0) -> None:
        self.alpha = float(self.Params(alpha=alpha).alpha)

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.alpha * u)
        return self.alpha * s * (1 - s)

    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.alpha * u)


class Rectangular(Surrogate):
    """σ'(u) = 1/w for |u| < w/2, else 0 (a box of width w and area 1)."""

    name = "rectangular"

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        width: float = Field(1.0, gt=0, description="width w of the box (in threshold units)")

    def __init__(self, width: float = 1.0) -> None:
        self.width = float(self.Params(width=width).width)

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        return (u.abs() < self.width / 2).to(u.dtype) / self.width

    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        return torch.clamp(u / self.width + 0.5, 0.0, 1.0)


class Triangle(Surrogate):
    """σ'(u) = max(0, 1 − |u|/w) / w (a triangle of half-width w and area 1)."""

    name = "triangle"

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        width: float = Field(1.0, gt=0, description="half-width w of the triangle (in threshold units)")

    def __init__(self, width: float = 1.0) -> None:
        self.width = float(self.Params(width=width).width)

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        return torch.clamp(1 - u.abs() / self.width, min=0) / self.width

    def primitive(self, u: torch.Tensor) -> torch.Tensor:
        w = self.width
        c = torch.clamp(u, -w, w)
        # ∫σ' from -w: (c+w)²/(2w²) left of 0, 1 − (w−c)²/(2w²) right of 0
        return torch.where(c < 0, (c + w) ** 2 / (2 * w * w), 1 - (w - c) ** 2 / (2 * w * w))


#: the surrogates this package registers
SURROGATES: tuple[type[Surrogate], ...] = (StraightThrough, ArcTan, Sigmoid, Rectangular, Triangle)


def resolve_surrogate(ref: Any) -> Surrogate:
    """A surrogate from a registry reference: a name, ``{"name": ..., **params}``, a config ref or an
    instance. Unknown names raise :class:`fastsnn.UnknownComponentError` (with "did you mean")."""
    if isinstance(ref, Surrogate):
        return ref
    from fastsnn import build_ref

    surrogate = build_ref("surrogate", ref)
    if not isinstance(surrogate, Surrogate):
        from fastsnn import FastSNNError

        raise FastSNNError(
            f"surrogate {ref!r} built a {type(surrogate).__name__}, not a fastsnn_neurons.Surrogate; "
            "a surrogate plugin must subclass fastsnn_neurons.surrogates.Surrogate"
        )
    return surrogate
