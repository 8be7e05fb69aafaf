"""The spike-coding contract: integer counts ↔ event trains, exactly.

Every coding here decodes linearly: ``count = Σ_t w_t · e_t`` with per-step weights ``w_t`` and
events ``e_t`` in the coding's alphabet (``{0,1}`` or ``{-1,0,1}``). That is what lets an
integrate-and-fire neuron replay an event train and recover the count.
Event trains put time first: ``events[t, ...]`` has the shape of the counts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import torch

from fastsnn.errors import FastSNNError
from fastsnn.params import Component, Params


class SpikeCoding(Component, ABC):
    """Base class of registered codings (kind ``coding``). Hyperparameters: a nested ``Params``."""

    #: name under which the coding is registered (set by subclasses)
    name: str = "coding"
    #: whether negative counts can be represented
    signed: bool = False
    #: the values an event may take
    alphabet: tuple[int, ...] = (0, 1)

    @abstractmethod
    def steps_for(self, counts: torch.Tensor) -> int:
        """The exact number of time steps needed to carry every count in ``counts``."""

    @abstractmethod
    def step_weights(self, num_steps: int, device: torch.device | None = None) -> torch.Tensor:
        """Per-step weights ``w_t`` (float64, shape ``[num_steps]``)."""

    @abstractmethod
    def encode(self, counts: torch.Tensor, num_steps: int | None = None) -> torch.Tensor:
        """Counts ``[*S]`` (integer values) → events ``[T, *S]`` (int8). ``num_steps=None`` picks
        the minimum; a count that does not fit an explicit ``num_steps`` is an error."""

    def __init__(self, *, params: Params | Mapping[str, Any] | None = None, **values: Any) -> None:
        self.init_params(params, values)

    def decode(self, events: torch.Tensor) -> torch.Tensor:
        """Events ``[T, *S]`` → counts ``[*S]`` (int64), exactly."""
        check_events(events, self)
        weights = self.step_weights(events.shape[0], events.device).to(torch.int64)
        shape = (-1,) + (1,) * (events.dim() - 1)
        return (events.to(torch.int64) * weights.view(shape)).sum(0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params_repr()})"


class IntegrateFireCoding(SpikeCoding):
    """The event-mode contract: a linear coding whose events an integrate-and-fire neuron emits.

    Event-driven inference (``fastsnn_neurons.event_mode``) replays a count neuron as an IF
    neuron: its membrane integrates the input, and at each step ``t`` it fires
    ``e_t = fire(residual, t, T)`` (``residual`` = membrane in threshold units) and soft-resets
    ``residual -= e_t · w_t``. After ``T`` steps ``Σ_t w_t e_t`` equals the neuron's count.
    A coding that implements :meth:`fire` this way can be used in event mode, whatever plugin
    registers it (it needs only ``fastsnn-core``).
    """

    @abstractmethod
    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        """One step's events (int8, shape of ``residual``) from the membrane ``residual`` (in
        threshold units, float); the caller then soft-resets ``residual -= e · w_step``."""


def check_events(events: torch.Tensor, coding: SpikeCoding) -> None:
    """Raise a clear error if ``events`` is not a valid event train for ``coding``."""
    if not isinstance(events, torch.Tensor):
        raise FastSNNError(f"events must be a torch.Tensor, got {type(events).__name__}")
    if events.dim() < 1:
        raise FastSNNError("events must have a leading time axis: shape [T, ...]")
    if events.dtype.is_complex:
        raise FastSNNError(f"events must be bool, integer or float, got {events.dtype}")
    if events.dtype.is_floating_point and not torch.equal(events, events.round()):
        raise FastSNNError(f"events for coding {coding.name!r} must hold integers, got fractional values")
    if events.numel():
        lo, hi = int(events.min()), int(events.max())
        allowed = coding.alphabet
        if lo < min(allowed) or hi > max(allowed):
            raise FastSNNError(
                f"events for coding {coding.name!r} must take values in {set(allowed)}, found range [{lo}, {hi}]"
            )
