"""Time steps and spike events per coding, from a layer's spike-count histogram.

An event-driven run carries a layer's counts as spike trains of a fixed length ``T`` under a
coding (:class:`fastsnn.SpikeCoding`). ``T`` is the coding's ``steps_for`` of the largest and
smallest count the layer emitted; the events are the nonzero entries of those trains. Both follow
exactly from the histogram (count value → frequency): each distinct value is encoded once.
A unary code (binary/ternary) needs ``T = max |n|`` steps and ``|n|`` events per count; a
binary-weighted one (bitwise) ``⌈log2(max n + 1)⌉`` steps and ``popcount(n)`` events.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fastsnn.coding import SpikeCoding


@dataclass
class CodingSteps:
    """One coding applied to one layer.

    :param steps: time steps ``T`` that carry every count the layer emitted (None: the coding cannot).
    :param events: nonzero spike events over everything recorded (None: the coding cannot).
    :param error: why the coding cannot carry the counts (e.g. negative counts in an unsigned code).
    """

    steps: int | None
    events: int | None
    error: str | None = None


def unary_events(histogram: dict[int, int]) -> int:
    """Events of a unary code (one spike per unit count): ``Σ |n| · frequency``."""
    return sum(abs(value) * freq for value, freq in histogram.items())


def coding_steps(coding: SpikeCoding, histogram: dict[int, int]) -> CodingSteps:
    """Steps and events of ``histogram`` (count value → frequency) under ``coding``."""
    if not histogram:
        return CodingSteps(steps=0, events=0)
    values = torch.tensor(sorted(histogram), dtype=torch.int64)  # [V]
    try:
        steps = int(coding.steps_for(torch.stack([values.min(), values.max()])))
        events = coding.encode(values, num_steps=steps)  # [T, V]
    except Exception as err:  # a coding's own refusal (negative counts, a count too large)
        return CodingSteps(steps=None, events=None, error=str(err) or type(err).__name__)
    per_value = (events != 0).sum(0).tolist()  # events carrying each distinct value
    return CodingSteps(steps=steps, events=int(sum(n * histogram[v] for v, n in zip(values.tolist(), per_value))))


__all__ = ["CodingSteps", "coding_steps", "unary_events"]
