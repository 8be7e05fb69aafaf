"""Training callbacks: how the trainer reports progress. The default prints one line per log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, TextIO


class Callback:
    """Hooks the :class:`~fastsnn.train.trainer.Trainer` calls; override the ones you need."""

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        """Every ``log_every`` steps: ``record`` has ``step``, ``loss`` (mean since the last log),
        ``lr``, ``grad_norm`` and ``tokens_per_s``."""

    def on_message(self, trainer: Any, message: str) -> None:
        """A notice worth showing the user (data ran out, resumed from a checkpoint, …)."""

    def on_checkpoint(self, trainer: Any, path: Path) -> None:
        """After a checkpoint was written to ``path``."""


class PrintLogger(Callback):
    """Prints ``step N | loss X | lr Y | tok/s Z`` lines (to stdout by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        self._print(f"step {record['step']} | loss {record['loss']:.4f} | lr {record['lr']:.2e} "
                    f"| tok/s {record['tokens_per_s']:.0f}")

    def on_message(self, trainer: Any, message: str) -> None:
        self._print(message)

    def on_checkpoint(self, trainer: Any, path: Path) -> None:
        self._print(f"checkpoint saved: {path}")


class FunctionLogger(Callback):
    """Adapts a plain function ``fn(record)`` to receive the log records."""

    def __init__(self, fn: Callable[[dict[str, Any]], None]) -> None:
        self.fn = fn

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        self.fn(record)
