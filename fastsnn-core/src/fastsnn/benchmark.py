"""The benchmark contract (kind ``benchmark``), run by ``fastsnn bench NAME``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Callable

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
