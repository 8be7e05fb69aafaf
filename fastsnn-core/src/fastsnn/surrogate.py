"""The surrogate-gradient contract (kind ``surrogate``): exact spikes forward, a smooth derivative backward.

A surrogate is a pseudo-derivative ``σ'(u)`` of the Heaviside step ``H(u)`` (``u`` is the
membrane's distance to the threshold, in units of the threshold). Each registered surrogate
gives two differentiable spike functions that share one backward rule:

- :meth:`Surrogate.heaviside` — forward ``H(u) = 1[u ≥ 0]`` (binary spikes, IF/LIF neurons),
  backward ``grad · σ'(u)``;
- :meth:`Surrogate.round` — forward ``round(u)`` (integer spike counts, sINT neurons),
  backward ``grad · σ'(u − ⌊u⌋ − ½)``: the derivative of the nearest rounding step, since
  ``round(u) = Σ_j H(u − j − ½)``.

The contract lives in core so that a plugin can add a surrogate depending on ``fastsnn-core``
alone; fastsnn-neurons registers the usual ones (``ste``, ``atan``, ``sigmoid``, ...).
Reference: Neftci, Mostafa & Zenke, "Surrogate Gradient Learning in Spiking Neural Networks" (2019).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import torch

from fastsnn.errors import FastSNNError
from fastsnn.params import Component, Params
from fastsnn.plugins import get_registry


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


class Surrogate(Component, ABC):
    """Base class of registered surrogates (kind ``surrogate``).

    Subclasses declare ``Params`` and define :meth:`derivative` and :meth:`primitive` (a smooth
    step whose derivative it is; used as the reference in tests). Build one with
    ``Subclass(alpha=2.0)`` or ``fastsnn.create("surrogate", name, ...)``; values live in
    ``self.params``.
    """

    #: the registered name (set by subclasses)
    name: str = "surrogate"
    #: a constant σ' (skips saving the input for backward), or None
    constant_derivative: float | None = None

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

    def __init__(self, *, params: Params | Mapping[str, Any] | None = None, **values: Any) -> None:
        self.init_params(params, values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params_repr()})"


def resolve_surrogate(ref: Any) -> Surrogate:
    """A surrogate from a registry reference: a name, ``{"name": ..., **params}``, a config ref or an
    instance. Unknown names raise :class:`fastsnn.UnknownComponentError` (with "did you mean")."""
    if isinstance(ref, Surrogate):
        return ref
    surrogate = get_registry().build_ref("surrogate", ref)
    if not isinstance(surrogate, Surrogate):  # pragma: no cover - the registry checks the contract
        raise FastSNNError(f"surrogate {ref!r} built a {type(surrogate).__name__}, not a fastsnn.Surrogate")
    return surrogate
