"""The exporter contract (kind ``exporter``): a model → files."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from fastsnn.params import Component, Params


class Exporter(Component, ABC):
    """Base class of registered exporters; hyperparameters in a nested ``Params``."""

    #: lines worth telling the user after :meth:`export` (e.g. a check's result); the CLI prints them
    notes: tuple[str, ...] = ()

    def __init__(self, *, params: Params | Mapping[str, Any] | None = None, **values: Any) -> None:
        self.init_params(params, values)

    def unsupported(self, model: nn.Module) -> list[str]:
        """What of ``model`` this format cannot carry, one line per module (``"blocks.0.attn
        (SlidingWindowAttention): ..."``); empty when it can carry all of it. Called before any work,
        so that an export names every problem at once and which other formats can carry the model."""
        return []

    @abstractmethod
    def export(self, model: nn.Module, path: str | Path, metadata: dict[str, Any] | None = None) -> list[Path]:
        """Write ``model`` to ``path``; return the files written.

        :raises FastSNNError: the model cannot be carried by this format, or ``path`` is unusable.
        """
