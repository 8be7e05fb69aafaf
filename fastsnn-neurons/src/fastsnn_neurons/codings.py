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

Each coding also implements core's event-mode contract, :class:`fastsnn.IntegrateFireCoding`:
:meth:`~fastsnn.IntegrateFireCoding.fire` is the greedy choice of one step's event from a
membrane residual ``R`` (in units of the threshold). Starting from ``R = n + f`` with
``0 ≤ f < 1`` and subtracting ``e_t · w_t`` after each step (soft reset), it emits exactly
``encode(n)``; that is what event-mode neurons run. The shared machinery (validation, exact
vectorised encode/decode) is :class:`LinearCoding`; parameters are declared once, in ``Params``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Union

import torch
from pydantic import Field

from fastsnn import FastSNNError, IntegrateFireCoding, Params, SpikeCoding
from fastsnn.spike_tensor import resolve_coding

#: bit shifts past this many steps overflow int64 counts
MAX_BITWISE_STEPS = 62


class LinearCoding(IntegrateFireCoding):
    """A linear coding with validation, exact vectorised encode/decode and an IF firing rule
    (subclasses give the step weights, the step count and :meth:`fire`)."""

    # -- the contract ------------------------------------------------------------------------
    def steps_for(self, counts: torch.Tensor) -> int:
        """The fewest steps that carry every count in ``counts`` (any shape; 0 if empty)."""
        counts, lo, hi = self._as_counts(counts)
        return self._steps_for_range(lo, hi) if counts.numel() else 0

    def encode(self, counts: torch.Tensor, num_steps: int | None = None) -> torch.Tensor:
        """Counts ``[*S]`` (integer dtype, or float holding integers) → events ``[T, *S]`` int8."""
        counts, lo, hi = self._as_counts(counts)
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
        # narrow integers make every per-step pass cheaper (int8 arithmetic is ~10x int64's)
        compact = counts.to(self._work_dtype(lo, hi, num_steps))
        events = torch.empty((num_steps, *counts.shape), dtype=torch.int8, device=counts.device)
        self._encode_into(compact, events)
        return events

    def decode(self, events: torch.Tensor) -> torch.Tensor:
        """Events ``[T, *S]`` (bool, integer, or float holding integers, in the alphabet) →
        counts ``[*S]`` int64, exactly."""
        events = self._as_events(events)
        weights = self._weights(events.shape[0])
        bound = sum(abs(w) for w in weights)
        counts = torch.zeros(events.shape[1:], dtype=_narrowest_int(-bound, bound), device=events.device)
        self._accumulate(events, weights, counts)
        return counts.to(torch.int64)

    def step_weights(self, num_steps: int, device: torch.device | None = None) -> torch.Tensor:
        """``w_t`` for ``t = 0 … num_steps−1`` (float64, shape ``[num_steps]``)."""
        return torch.tensor(self._weights(num_steps), dtype=torch.float64, device=device)

    # -- per-coding pieces -------------------------------------------------------------------------
    @abstractmethod
    def _steps_for_range(self, lo: int, hi: int) -> int:
        """Steps needed for counts in ``[lo, hi]`` (validated for sign already)."""

    @abstractmethod
    def _weights(self, num_steps: int) -> list[int]:
        """Integer step weights."""

    @abstractmethod
    def _work_dtype(self, lo: int, hi: int, num_steps: int) -> torch.dtype:
        """The narrowest integer dtype in which encoding counts in ``[lo, hi]`` cannot overflow."""

    @abstractmethod
    def _encode_into(self, counts: torch.Tensor, events: torch.Tensor) -> None:
        """Write the events of validated integer ``counts [*S]`` (a narrow int dtype) into the int8
        buffer ``events [T, *S]``."""

    def _accumulate(self, events: torch.Tensor, weights: list[int], counts: torch.Tensor) -> None:
        """``counts = Σ_t w_t e_t`` for weights ``[±2^(T−1), 2^(T−2), …, 1]`` (Horner's scheme, in place)."""
        if not weights:
            return
        counts.copy_(events[0])
        if weights[0] < 0:
            counts.neg_()
        for t in range(1, len(weights)):
            torch.add(events[t], counts, alpha=2, out=counts)  # counts ← 2·counts + e_t, one pass

    # -- validation --------------------------------------------------------------------------
    def _as_counts(self, counts: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """Validated integer counts with their min and max (0, 0 when empty)."""
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
        lo, hi = (int(v) for v in torch.aminmax(counts)) if counts.numel() else (0, 0)
        if not self.signed and lo < 0:
            raise FastSNNError(
                f"coding {self.name!r} carries only counts >= 0, found {lo}; use a signed coding "
                "(ternary, bitwise_bidirectional, twos_complement) or an unsigned neuron"
            )
        return counts, lo, hi

    def _as_events(self, events: torch.Tensor) -> torch.Tensor:
        """Validated events as int8 (bool/integers/integral floats in the alphabet, time first)."""
        if not isinstance(events, torch.Tensor):
            raise FastSNNError(f"coding {self.name!r}: events must be a torch.Tensor, got {type(events).__name__}")
        if events.dim() < 1:
            raise FastSNNError(f"coding {self.name!r}: events must have a leading time axis, shape [T, ...]")
        if events.dtype == torch.bool:
            return events.view(torch.int8)
        if events.dtype.is_complex or events.dtype in _UNSUPPORTED_EVENT_DTYPES:
            raise FastSNNError(
                f"coding {self.name!r}: events must be int8 (or bool/integer, or float holding integers), "
                f"got {events.dtype}"
            )
        if events.dtype.is_floating_point and not torch.equal(events, events.round()):
            raise FastSNNError(f"coding {self.name!r}: events must hold integers, got fractional values")
        if events.numel():
            lo, hi = (int(v) for v in torch.aminmax(events))
            if lo < min(self.alphabet) or hi > max(self.alphabet):
                raise FastSNNError(
                    f"coding {self.name!r}: events must take values in {set(self.alphabet)}, found range [{lo}, {hi}]"
                )
        return events if events.dtype == torch.int8 else events.to(torch.int8)

    def _check_step_budget(self, num_steps: int) -> None:
        """Codings with very long trains override this to refuse absurd allocations."""


#: event dtypes that cannot carry {-1, 0, 1} exactly or are not plain numbers
_UNSUPPORTED_EVENT_DTYPES = {torch.uint16, torch.uint32, torch.uint64} if hasattr(torch, "uint16") else set()


def _narrowest_int(lo: int, hi: int) -> torch.dtype:
    """The narrowest signed integer dtype holding ``[lo, hi]`` (with headroom for one step's arithmetic)."""
    for dtype in (torch.int8, torch.int16, torch.int32):
        info = torch.iinfo(dtype)
        if info.min < lo and hi < info.max:
            return dtype
    return torch.int64


class UnaryCoding(LinearCoding):
    """Shared parts of ``binary`` and ``ternary``: one step per spike, all weights 1."""

    class Params(Params):
        max_steps: int = Field(
            4096, gt=0, description="refuse trains longer than this (one step per spike; use bitwise for big counts)"
        )

    def _steps_for_range(self, lo: int, hi: int) -> int:
        return max(abs(lo), abs(hi))

    def _weights(self, num_steps: int) -> list[int]:
        return [1] * num_steps

    def _check_step_budget(self, num_steps: int) -> None:
        if num_steps > self.params.max_steps:
            raise FastSNNError(
                f"coding {self.name!r} needs {num_steps} steps (one per spike), more than "
                f"max_steps={self.params.max_steps}; "
                "use the bitwise coding for large counts or raise max_steps"
            )

    def _work_dtype(self, lo: int, hi: int, num_steps: int) -> torch.dtype:
        return _narrowest_int(min(lo, -num_steps), max(hi, num_steps))  # holds |N| − t for every step t

    def _accumulate(self, events: torch.Tensor, weights: list[int], counts: torch.Tensor) -> None:
        for step_events in events:
            counts.add_(step_events)

    @staticmethod
    def _unary_into(magnitude: torch.Tensor, events: torch.Tensor, sign: torch.Tensor | None = None) -> None:
        """``events[t] = sign · 1[magnitude > t]`` as ``clamp(magnitude − t, 0, 1)`` (integer arithmetic
        is far faster than a comparison into bool on CPU), one step at a time (a broadcast over
        the time axis is ~3x slower than per-step passes)."""
        narrow = magnitude.dtype == torch.int8
        for t in range(events.shape[0]):
            if narrow:  # straight into the event buffer, no temporary
                step = torch.sub(magnitude, t, out=events[t]).clamp_(0, 1)
            else:
                events[t] = (magnitude - t).clamp_(0, 1)
                step = events[t]
            if sign is not None:
                step.mul_(sign)


class BinaryCoding(UnaryCoding):
    """Unary {0,1} code: a count N ≥ 0 is N spikes in the first N of T steps (w_t = 1)."""

    name = "binary"
    signed = False
    alphabet = (0, 1)

    def _encode_into(self, counts: torch.Tensor, events: torch.Tensor) -> None:
        self._unary_into(counts, events)

    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        return (residual >= 1).to(torch.int8)


class TernaryCoding(UnaryCoding):
    """Unary {−1,0,1} code: a count N is |N| spikes of sign(N) in the first |N| steps (w_t = 1)."""

    name = "ternary"
    signed = True
    alphabet = (-1, 0, 1)

    def _encode_into(self, counts: torch.Tensor, events: torch.Tensor) -> None:
        self._unary_into(counts.abs(), events, torch.sign(counts).to(torch.int8))

    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        return (residual >= 1).to(torch.int8) - (residual < 0).to(torch.int8)


class BitCoding(LinearCoding):
    """Shared parts of the three binary-weighted codings (MSB first)."""

    def _check_step_budget(self, num_steps: int) -> None:
        if num_steps > MAX_BITWISE_STEPS:
            raise FastSNNError(f"coding {self.name!r}: num_steps={num_steps} exceeds {MAX_BITWISE_STEPS} (int64 counts)")

    def _weights(self, num_steps: int) -> list[int]:
        return [1 << (num_steps - 1 - t) for t in range(num_steps)]

    def _work_dtype(self, lo: int, hi: int, num_steps: int) -> torch.dtype:
        return _narrowest_int(-(1 << num_steps), 1 << num_steps)  # shifts by up to T−1 stay in range

    @staticmethod
    def _bits_into(values: torch.Tensor, events: torch.Tensor, sign: torch.Tensor | None = None) -> None:
        """``events[t]`` = sign · bit ``T−1−t`` of each value (two's complement for negatives)."""
        num_steps = events.shape[0]
        shifted = torch.empty_like(values)
        for t in range(num_steps):
            torch.bitwise_right_shift(values, num_steps - 1 - t, out=shifted)
            torch.bitwise_and(shifted, 1, out=events[t])
            if sign is not None:
                events[t].mul_(sign)


class BitwiseCoding(BitCoding):
    """Binary-weighted {0,1} code, MSB first: N = Σ_t e_t·2^(T−1−t), T = ⌈log2(N+1)⌉ (N ≥ 0)."""

    name = "bitwise"
    signed = False
    alphabet = (0, 1)

    def _steps_for_range(self, lo: int, hi: int) -> int:
        return hi.bit_length()

    def _encode_into(self, counts: torch.Tensor, events: torch.Tensor) -> None:
        self._bits_into(counts, events)

    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        return (residual >= (1 << (num_steps - 1 - step))).to(torch.int8)


class BitwiseBidirectionalCoding(BitCoding):
    """Sign-magnitude ±1 bits, MSB first: N = sign(N)·Σ_t b_t·2^(T−1−t), events sign(N)·b_t ∈ {−1,0,1}."""

    name = "bitwise_bidirectional"
    signed = True
    alphabet = (-1, 0, 1)

    def _steps_for_range(self, lo: int, hi: int) -> int:
        return max(abs(lo), abs(hi)).bit_length()

    def _encode_into(self, counts: torch.Tensor, events: torch.Tensor) -> None:
        self._bits_into(counts.abs(), events, torch.sign(counts).to(torch.int8))

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

    def _encode_into(self, counts: torch.Tensor, events: torch.Tensor) -> None:
        self._bits_into(counts, events)

    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        if step == 0:  # the sign step has weight −2^(T−1): it fires for negative counts
            return (residual < 0).to(torch.int8)
        return (residual >= (1 << (num_steps - 1 - step))).to(torch.int8)


def _twos_bits(n: int) -> int:
    return (n if n >= 0 else ~n).bit_length() + 1


#: the codings this package registers
CODINGS: tuple[type[LinearCoding], ...] = (
    BinaryCoding,
    TernaryCoding,
    BitwiseCoding,
    BitwiseBidirectionalCoding,
    TwosComplementCoding,
)


def resolve_integrate_fire_coding(coding: Union[str, SpikeCoding]) -> IntegrateFireCoding:
    """A coding with an integrate-and-fire rule from a registered name or an object (unknown
    names raise :class:`fastsnn.UnknownComponentError` with "did you mean").

    Any :class:`fastsnn.IntegrateFireCoding` qualifies, whichever plugin registers it.
    """
    coding_obj = resolve_coding(coding)
    if not isinstance(coding_obj, IntegrateFireCoding):
        raise FastSNNError(
            f"coding {getattr(coding_obj, 'name', coding)!r} ({type(coding_obj).__name__}) has no integrate-and-fire "
            "rule; event mode needs a fastsnn.IntegrateFireCoding (subclass it and implement fire(); every coding "
            "of fastsnn-neurons is one)"
        )
    return coding_obj
