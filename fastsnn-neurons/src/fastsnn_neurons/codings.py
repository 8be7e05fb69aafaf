"""Spike codings (kind ``coding``): integer counts ↔ event trains, exactly and vectorised.

Every coding decodes linearly, ``n = Σ_t w_t · e_t`` (time first: ``events[t, ...]``):

==========================  ==============  =================================  ===========================
coding                      alphabet        step weights ``w_t`` (t = 0…T−1)   steps ``T`` for a count N
==========================  ==============  =================================  ===========================
``binary``                  {0, 1}          1                                  N            (N ≥ 0)
``ternary``                 {−1, 0, 1}      1                                  |N|
``bitwise``                 {0, 1}          2^(T−1−t) (MSB first)              ⌈log2(N+1)⌉  (N ≥ 0)
``bitwise_bidirectional``   {−1, 0, 1}      2^(T−1−t), sign·bits of |N|        ⌈log2(|N|+1)⌉
``twos_complement``         {0, 1}          −2^(T−1), then 2^(T−1−t)           bits of N plus a sign bit
==========================  ==============  =================================  ===========================

A count of 0 needs 0 steps in all but ``twos_complement`` (1 step). ``encode`` picks the fewest
steps that carry every count, or uses an explicit ``num_steps``; a count that does not fit an
explicit ``num_steps`` is an error, never a wrap-around. Events are ``int8``.

Each coding also defines its integrate-and-fire rule, :meth:`IntegrateFireCoding.fire`: the
greedy choice of one step's event from a membrane residual ``R`` (in units of the threshold).
Starting from ``R = n + f`` with ``0 ≤ f < 1`` and subtracting ``e_t · w_t`` after each step
(soft reset), it emits exactly ``encode(n)``; that is what event-mode neurons run.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Union

import torch
from pydantic import BaseModel, ConfigDict, Field

from fastsnn import FastSNNError, SpikeCoding
from fastsnn.coding import check_events

#: bit shifts past this many steps overflow int64 counts
MAX_BITWISE_STEPS = 62


class IntegrateFireCoding(SpikeCoding):
    """A linear coding with validation, exact vectorised encode/decode and an IF firing rule."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

    # -- the contract ------------------------------------------------------------------------
    def steps_for(self, counts: torch.Tensor) -> int:
        """The fewest steps that carry every count in ``counts`` (any shape; 0 if empty)."""
        counts = self._as_counts(counts)
        if counts.numel() == 0:
            return 0
        return self._steps_for_range(int(counts.min()), int(counts.max()))

    def encode(self, counts: torch.Tensor, num_steps: int | None = None) -> torch.Tensor:
        """Counts ``[*S]`` (integer dtype, or float holding integers) → events ``[T, *S]`` int8."""
        counts = self._as_counts(counts)
        lo, hi = (int(counts.min()), int(counts.max())) if counts.numel() else (0, 0)
        needed = self._steps_for_range(lo, hi)
        if num_steps is None:
            num_steps = needed
        else:
            if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 0:
                raise FastSNNError(f"coding {self.name!r}: num_steps must be a non-negative int, got {num_steps!r}")
            if needed > num_steps:
                raise FastSNNError(
                    f"coding {self.name!r}: counts in [{lo}, {hi}] need {needed} steps and do not fit in "
                    f"num_steps={num_steps} (no wrap-around); pass num_steps>={needed}, or num_steps=None "
                    "for the minimum"
                )
        self._check_step_budget(num_steps)
        return self._encode(counts, num_steps)

    def decode(self, events: torch.Tensor) -> torch.Tensor:
        """Events ``[T, *S]`` (bool, integer, or float holding integers, in the alphabet) →
        counts ``[*S]`` int64, exactly."""
        check_events(events, self)
        if events.dtype == torch.bool:
            events = events.view(torch.int8)
        elif events.dtype.is_floating_point:
            events = events.to(torch.int8)
        return self._decode(events)

    def step_weights(self, num_steps: int, device: torch.device | None = None) -> torch.Tensor:
        """``w_t`` for ``t = 0 … num_steps−1`` (float64, shape ``[num_steps]``)."""
        return torch.tensor(self._weights(num_steps), dtype=torch.float64, device=device)

    # -- integrate-and-fire ----------------------------------------------------------------------
    @abstractmethod
    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        """One step's events (int8, shape of ``residual``) from the membrane ``residual`` in
        threshold units; the caller then soft-resets ``residual -= e · w_step``."""

    # -- per-coding pieces -------------------------------------------------------------------------
    @abstractmethod
    def _steps_for_range(self, lo: int, hi: int) -> int:
        """Steps needed for counts in ``[lo, hi]`` (validated for sign already)."""

    @abstractmethod
    def _weights(self, num_steps: int) -> list[int]:
        """Integer step weights."""

    @abstractmethod
    def _encode(self, counts: torch.Tensor, num_steps: int) -> torch.Tensor:
        """Validated integer counts → int8 events ``[num_steps, *S]``."""

    def _decode(self, events: torch.Tensor) -> torch.Tensor:
        """int8 events → int64 counts; Horner's scheme over the integer step weights."""
        return _horner(events, self._weights(events.shape[0]))

    # -- validation --------------------------------------------------------------------------
    def _as_counts(self, counts: torch.Tensor) -> torch.Tensor:
        if not isinstance(counts, torch.Tensor):
            raise FastSNNError(f"coding {self.name!r}: counts must be a torch.Tensor, got {type(counts).__name__}")
        if counts.dtype == torch.bool or counts.dtype.is_complex:
            raise FastSNNError(f"coding {self.name!r}: counts must be an integer or float tensor, got {counts.dtype}")
        if counts.dtype.is_floating_point:
            detached = counts.detach()
            if not bool(torch.isfinite(detached).all()):
                raise FastSNNError(f"coding {self.name!r}: counts contain NaN or inf")
            if not torch.equal(detached, detached.round()):
                raise FastSNNError(
                    f"coding {self.name!r}: counts must hold integer values, got fractional ones; "
                    "round them or produce them with a neuron"
                )
            counts = detached.to(torch.int64)
        if not self.signed and counts.numel() and int(counts.min()) < 0:
            raise FastSNNError(
                f"coding {self.name!r} carries only counts >= 0, found {int(counts.min())}; use a signed coding "
                "(ternary, bitwise_bidirectional, twos_complement) or an unsigned neuron"
            )
        return counts

    def _check_step_budget(self, num_steps: int) -> None:
        """Codings with very long trains override this to refuse absurd allocations."""


def _horner(events: torch.Tensor, weights: list[int]) -> torch.Tensor:
    """``Σ_t w_t e_t`` for weights that double from step to step after the first
    (``[±2^(T−1), 2^(T−2), …, 1]``), as int64, in T in-place passes."""
    counts = torch.zeros(events.shape[1:], dtype=torch.int64, device=events.device)
    if events.shape[0] == 0:
        return counts
    counts.copy_(events[0])
    if weights[0] < 0:
        counts.neg_()
    for t in range(1, events.shape[0]):
        counts.mul_(2).add_(events[t])
    return counts


def _time_index(num_steps: int, like: torch.Tensor, descending: bool = False) -> torch.Tensor:
    """``[T, 1, …, 1]`` step indices broadcastable against ``like`` (with a time axis in front)."""
    steps = torch.arange(num_steps, device=like.device, dtype=like.dtype)
    if descending:
        steps = steps.flip(0)
    return steps.view((num_steps,) + (1,) * like.dim())


class UnaryCoding(IntegrateFireCoding):
    """Shared parts of ``binary`` and ``ternary``: one step per spike, all weights 1."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        max_steps: int = Field(
            4096, gt=0, description="refuse trains longer than this (one step per spike; use bitwise for big counts)"
        )

    def __init__(self, max_steps: int = 4096) -> None:
        self.max_steps = self.Params(max_steps=max_steps).max_steps

    def _steps_for_range(self, lo: int, hi: int) -> int:
        return max(abs(lo), abs(hi))

    def _weights(self, num_steps: int) -> list[int]:
        return [1] * num_steps

    def _check_step_budget(self, num_steps: int) -> None:
        if num_steps > self.max_steps:
            raise FastSNNError(
                f"coding {self.name!r} needs {num_steps} steps (one per spike), more than max_steps={self.max_steps}; "
                "use the bitwise coding for large counts or raise max_steps"
            )

    def _decode(self, events: torch.Tensor) -> torch.Tensor:
        return events.sum(0, dtype=torch.int64)


class BinaryCoding(UnaryCoding):
    """Unary {0,1} code: a count N ≥ 0 is N spikes in the first N of T steps (w_t = 1)."""

    name = "binary"
    signed = False
    alphabet = (0, 1)

    def _encode(self, counts: torch.Tensor, num_steps: int) -> torch.Tensor:
        # e_t = 1[N > t]: one broadcast comparison, then a free bool → int8 view
        return (counts.unsqueeze(0) > _time_index(num_steps, counts)).view(torch.int8)

    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        return (residual >= 1).to(torch.int8)


class TernaryCoding(UnaryCoding):
    """Unary {−1,0,1} code: a count N is |N| spikes of sign(N) in the first |N| steps (w_t = 1)."""

    name = "ternary"
    signed = True
    alphabet = (-1, 0, 1)

    def _encode(self, counts: torch.Tensor, num_steps: int) -> torch.Tensor:
        magnitude = counts.abs()
        fired = (magnitude.unsqueeze(0) > _time_index(num_steps, magnitude)).view(torch.int8)
        return fired * torch.sign(counts).to(torch.int8)

    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        return (residual >= 1).to(torch.int8) - (residual < 0).to(torch.int8)


class BitCoding(IntegrateFireCoding):
    """Shared parts of the three binary-weighted codings (MSB first)."""

    def _check_step_budget(self, num_steps: int) -> None:
        if num_steps > MAX_BITWISE_STEPS:
            raise FastSNNError(f"coding {self.name!r}: num_steps={num_steps} exceeds {MAX_BITWISE_STEPS} (int64 counts)")

    def _weights(self, num_steps: int) -> list[int]:
        return [1 << (num_steps - 1 - t) for t in range(num_steps)]

    @staticmethod
    def _bits(values: torch.Tensor, num_steps: int) -> torch.Tensor:
        """Bit ``T−1−t`` of each value at step t (two's complement for negatives), int8 ``[T, *S]``."""
        wide = values.to(torch.int32 if num_steps <= 31 else torch.int64)
        shifts = _time_index(num_steps, wide, descending=True)
        return torch.bitwise_and(wide.unsqueeze(0) >> shifts, 1).to(torch.int8)


class BitwiseCoding(BitCoding):
    """Binary-weighted {0,1} code, MSB first: N = Σ_t e_t·2^(T−1−t), T = ⌈log2(N+1)⌉ (N ≥ 0)."""

    name = "bitwise"
    signed = False
    alphabet = (0, 1)

    def _steps_for_range(self, lo: int, hi: int) -> int:
        return hi.bit_length()

    def _encode(self, counts: torch.Tensor, num_steps: int) -> torch.Tensor:
        return self._bits(counts, num_steps)

    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        return (residual >= (1 << (num_steps - 1 - step))).to(torch.int8)


class BitwiseBidirectionalCoding(BitCoding):
    """Sign-magnitude ±1 bits, MSB first: N = sign(N)·Σ_t b_t·2^(T−1−t), events sign(N)·b_t ∈ {−1,0,1}."""

    name = "bitwise_bidirectional"
    signed = True
    alphabet = (-1, 0, 1)

    def _steps_for_range(self, lo: int, hi: int) -> int:
        return max(abs(lo), abs(hi)).bit_length()

    def _encode(self, counts: torch.Tensor, num_steps: int) -> torch.Tensor:
        return self._bits(counts.abs(), num_steps) * torch.sign(counts).to(torch.int8)

    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        weight = 1 << (num_steps - 1 - step)
        return (residual >= weight).to(torch.int8) - (residual < 1 - weight).to(torch.int8)


class TwosComplementCoding(BitCoding):
    """Two's complement {0,1} bits, MSB first: N = −e_0·2^(T−1) + Σ_{t≥1} e_t·2^(T−1−t).

    T is the bit length of N plus the sign bit (N ≥ 0: ``N.bit_length()+1``; N < 0:
    ``(−N−1).bit_length()+1``), so 0 and −1 take one step.
    """

    name = "twos_complement"
    signed = True
    alphabet = (0, 1)

    def _steps_for_range(self, lo: int, hi: int) -> int:
        return max(_twos_bits(lo), _twos_bits(hi))

    def _weights(self, num_steps: int) -> list[int]:
        weights = super()._weights(num_steps)
        if weights:
            weights[0] = -weights[0]
        return weights

    def _encode(self, counts: torch.Tensor, num_steps: int) -> torch.Tensor:
        return self._bits(counts, num_steps)

    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        if step == 0:  # the sign step has weight −2^(T−1): it fires for negative counts
            return (residual < 0).to(torch.int8)
        return (residual >= (1 << (num_steps - 1 - step))).to(torch.int8)


def _twos_bits(n: int) -> int:
    return (n if n >= 0 else ~n).bit_length() + 1


#: the codings this package registers
CODINGS: tuple[type[IntegrateFireCoding], ...] = (
    BinaryCoding,
    TernaryCoding,
    BitwiseCoding,
    BitwiseBidirectionalCoding,
    TwosComplementCoding,
)


def resolve_integrate_fire_coding(coding: Union[str, SpikeCoding]) -> IntegrateFireCoding:
    """A coding with an integrate-and-fire rule from a registered name or an object (unknown
    names raise :class:`fastsnn.UnknownComponentError` with "did you mean")."""
    from fastsnn.spike_tensor import resolve_coding

    coding_obj = resolve_coding(coding)
    if not isinstance(coding_obj, IntegrateFireCoding):
        raise FastSNNError(
            f"coding {getattr(coding_obj, 'name', coding)!r} ({type(coding_obj).__name__}) has no integrate-and-fire "
            "rule; event mode needs a fastsnn_neurons.codings.IntegrateFireCoding (every coding of fastsnn-neurons is one)"
        )
    return coding_obj
