"""The benchmark contract (kind ``benchmark``), run by ``fastsnn bench NAME``, and the one timing helper
every benchmark uses (:func:`time_call` for one call, :func:`time_interleaved` for ratios)."""

from __future__ import annotations

import statistics
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Callable, Literal

import torch

from fastsnn.params import Component, Params

#: ``progress(message)``: where a benchmark reports what it is doing (stderr in the CLI).
Progress = Callable[[str], None]


class Benchmark(Component, ABC):
    """Base class of registered benchmarks; settings in a nested ``Params`` (``--set key=value``)."""

    def __init__(self, *, params: Params | Mapping[str, Any] | None = None, **values: Any) -> None:
        self.init_params(params, values)

    @abstractmethod
    def run(self, progress: Progress) -> list[dict[str, Any]]:
        """Measure; return result rows (one dict per case, JSON-ready values)."""

    def __call__(self, progress: Progress) -> list[dict[str, Any]]:
        return self.run(progress)


def device_sync(device: str | torch.device = "cpu") -> Callable[[], None]:
    """A function that waits for ``device``'s queued work (CUDA), or does nothing (CPU)."""
    return torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)


def time_interleaved(calls: Mapping[str, Callable[[], Any]], repeats: int, warmup: int = 1,
                     statistic: Literal["median", "min"] = "median",
                     device: str | torch.device = "cpu") -> dict[str, float]:
    """Seconds per call of each of ``calls``, timed round-robin: one run of each per round.

    Load from other processes on a shared machine then hits every case alike, so the *ratios*
    between cases stay meaningful even when the absolute times do not. ``statistic``: the median
    over ``repeats`` rounds (typical) or the minimum (least disturbed). Each call runs ``warmup``
    times first. On CUDA the device is synchronised around each run, so a time covers the kernels,
    not only their launch. Returns ``{name: seconds}``.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be ≥ 1 and warmup ≥ 0, got repeats={repeats}, warmup={warmup}")
    if statistic not in ("median", "min"):
        raise ValueError(f"statistic must be 'median' or 'min', got {statistic!r}")
    sync = device_sync(device)
    for call in calls.values():
        for _ in range(warmup):
            call()
    sync()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            sync()
            times[name].append(time.perf_counter() - start)
    summary = statistics.median if statistic == "median" else min
    return {name: summary(ts) for name, ts in times.items()}


def time_call(fn: Callable[[], Any], repeats: int, warmup: int = 1, device: str | torch.device = "cpu") -> float:
    """Best (minimum) wall seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs.

    The minimum is the least disturbed by other work on a shared machine; for ratios between
    cases use :func:`time_interleaved`.
    """
    return time_interleaved({"call": fn}, repeats=max(1, repeats), warmup=warmup, statistic="min",
                            device=device)["call"]
