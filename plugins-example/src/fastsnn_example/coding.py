"""``balanced_ternary``: a signed coding with digits {−1, 0, 1} and weights 3^(T−1−t), on core alone.

A count ``n`` is written in balanced ternary, most significant digit first::

    n = Σ_t e_t · 3^(T−1−t),   e_t ∈ {−1, 0, 1}

``T`` steps carry every ``|n| ≤ (3^T − 1)/2`` (``T = 3``: −13…13; ``T = 5``: −121…121), fewer
steps than bitwise codes for the same range. Subclassing core's
:class:`fastsnn.IntegrateFireCoding` and implementing :meth:`fire` makes it usable in event
mode (``fastsnn_neurons.event_mode(model, coding="balanced_ternary")``) although this package
never imports fastsnn-neurons.

**Integrate-and-fire rule.** With the membrane residual ``R`` in threshold units (``⌊R⌋`` is the
count still to be sent) and ``w = 3^(T−1−t)``, ``h = (w + 1)/2``, the step fires
``+1 if R ≥ h``, ``−1 if R < 1 − h``, else 0, and the caller soft-resets ``R ← R − e·w``. For an
integer ``m = ⌊R⌋`` that is ``+1 iff m ≥ h`` and ``−1 iff m ≤ −h``: the greedy balanced-ternary
digit, which leaves ``|m − e·w| ≤ (w − 1)/2`` — exactly what the remaining lower digits can carry.
So the emitted train is :meth:`encode` of the count.
"""

from __future__ import annotations

import torch

import fastsnn
from fastsnn import FastSNNError


class BalancedTernaryCoding(fastsnn.IntegrateFireCoding):
    """Balanced ternary, MSB first: n = Σ_t e_t·3^(T−1−t), e_t ∈ {−1, 0, 1}; T = fewest digits for max |n|."""

    name = "balanced_ternary"
    signed = True
    alphabet = (-1, 0, 1)
    #: the largest weight, 3^33, is the last power of 3 below 2^53: exact as a float64 step weight
    max_steps = 34

    def steps_for(self, counts: torch.Tensor) -> int:
        """The fewest digits ``T`` with ``(3^T − 1)/2 ≥ max |n|`` (0 for no counts or all zeros)."""
        largest = int(_integers(counts, self.name).abs().max()) if counts.numel() else 0
        steps, reach = 0, 0
        while reach < largest:
            steps, reach = steps + 1, 3 * reach + 1  # reach = (3^steps − 1)/2
        return steps

    def step_weights(self, num_steps: int, device: torch.device | None = None) -> torch.Tensor:
        """``[3^(T−1), …, 9, 3, 1]`` (float64, shape ``[num_steps]``)."""
        return torch.tensor([3 ** (num_steps - 1 - t) for t in range(num_steps)], dtype=torch.float64, device=device)

    def encode(self, counts: torch.Tensor, num_steps: int | None = None) -> torch.Tensor:
        """Counts ``[*S]`` (integer values) → digits ``[T, *S]`` int8 (the same greedy rule as :meth:`fire`).

        :raises FastSNNError: fractional or non-finite counts, or counts that do not fit ``num_steps``.
        """
        values = _integers(counts, self.name).to(torch.int64)
        needed = self.steps_for(values)
        if num_steps is None:
            num_steps = needed
        elif isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 0:
            raise FastSNNError(f"coding {self.name!r}: num_steps must be a non-negative int, got {num_steps!r}")
        elif needed > num_steps:
            raise FastSNNError(
                f"coding {self.name!r}: counts up to |{int(values.abs().max())}| need {needed} digits and do not fit "
                f"num_steps={num_steps} (which carries |n| ≤ {(3 ** num_steps - 1) // 2}); pass num_steps>={needed}"
            )
        if num_steps > self.max_steps:
            raise FastSNNError(
                f"coding {self.name!r}: num_steps={num_steps} exceeds {self.max_steps} "
                "(float64 step weights are exact up to 3^33)"
            )
        events = torch.empty((num_steps, *values.shape), dtype=torch.int8, device=values.device)
        rest = values.clone()
        for t in range(num_steps):
            weight = 3 ** (num_steps - 1 - t)
            half = (weight + 1) // 2
            digit = (rest >= half).to(torch.int64) - (rest <= -half).to(torch.int64)
            events[t] = digit.to(torch.int8)
            rest -= digit * weight
        return events

    def fire(self, residual: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        """One digit (int8, shape of ``residual``) from the residual in threshold units (see the module doc)."""
        half = (3 ** (num_steps - 1 - step) + 1) // 2
        return (residual >= half).to(torch.int8) - (residual < 1 - half).to(torch.int8)


def _integers(counts: torch.Tensor, name: str) -> torch.Tensor:
    """``counts`` checked to be a real tensor of integer values."""
    if not isinstance(counts, torch.Tensor):
        raise FastSNNError(f"coding {name!r}: counts must be a torch.Tensor, got {type(counts).__name__}")
    if counts.dtype == torch.bool or counts.dtype.is_complex:
        raise FastSNNError(f"coding {name!r}: counts must be an integer or float tensor, got {counts.dtype}")
    if counts.dtype.is_floating_point:
        detached = counts.detach()
        if not bool(torch.isfinite(detached).all()) or not torch.equal(detached, detached.round()):
            raise FastSNNError(f"coding {name!r}: counts must be finite integers, got fractional or non-finite values")
    return counts.detach()
