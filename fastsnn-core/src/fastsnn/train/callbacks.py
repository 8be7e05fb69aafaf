"""Training callbacks: how the trainer reports progress.

- :class:`PrintLogger` — one line per log (the default of :class:`~fastsnn.train.trainer.Trainer`);
- :class:`ProgressBar` — a tqdm bar with loss, tokens/s and ETA (what ``fastsnn train`` shows on a terminal);
- :class:`JSONLLogger` — every log and evaluation record as one JSON line (``metrics.jsonl`` of a run);
- :class:`TensorBoardLogger` — scalars for TensorBoard (``pip install "fastsnn-core[tensorboard]"``);
- :class:`FunctionLogger` — a plain ``fn(record)``.

Subclass :class:`Callback` and override what you need. In a distributed run only rank 0 calls them.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from fastsnn.errors import FastSNNError
from fastsnn.safe_io import atomic_write_bytes


class Callback:
    """Hooks the :class:`~fastsnn.train.trainer.Trainer` calls; override the ones you need."""

    def on_train_start(self, trainer: Any) -> None:
        """When :meth:`~fastsnn.train.trainer.Trainer.fit` starts (``trainer.step`` > 0 when resumed)."""

    def on_step_end(self, trainer: Any, record: dict[str, Any]) -> None:
        """After every optimizer step: ``record`` has ``step``, ``loss``, ``lr``, ``grad_norm``, ``tokens``."""

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        """Every ``log_every`` steps: ``record`` has ``step``, ``loss`` (mean since the last log),
        ``lr``, ``grad_norm``, ``tokens_per_s`` and, with spike statistics on, ``spikes`` (per layer:
        ``firing_rate``, ``sparsity``, ``silent``, ``saturated``) and ``spikes_mean``."""

    def on_eval(self, trainer: Any, record: dict[str, Any]) -> None:
        """After a periodic evaluation: ``step``, ``val_loss``, ``val_perplexity``, ``val_tokens``,
        ``val_batches`` and, when the trainer knows token byte lengths, ``val_bits_per_byte``."""

    def on_message(self, trainer: Any, message: str) -> None:
        """A notice worth showing the user (data ran out, resumed from a checkpoint, …)."""

    def on_checkpoint(self, trainer: Any, path: Path) -> None:
        """After a checkpoint was written to ``path``."""

    def on_train_end(self, trainer: Any) -> None:
        """When ``fit`` returns or raises."""


def format_log(record: dict[str, Any]) -> str:
    """``step N | loss X | lr Y | tok/s Z`` (+ spikes/value and sparsity when recorded)."""
    text = (f"step {record['step']} | loss {record['loss']:.4f} | lr {record['lr']:.2e} "
            f"| tok/s {record['tokens_per_s']:.0f}")
    spikes = record.get("spikes_mean")
    if spikes:
        text += f" | spikes/value {spikes['firing_rate']:.2f} | sparsity {spikes['sparsity']:.2f}"
    return text


class PrintLogger(Callback):
    """Prints ``step N | loss X | lr Y | tok/s Z`` lines (to stdout by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        self._print(format_log(record))

    def on_eval(self, trainer: Any, record: dict[str, Any]) -> None:
        self._print(format_eval(record))

    def on_message(self, trainer: Any, message: str) -> None:
        self._print(message)

    def on_checkpoint(self, trainer: Any, path: Path) -> None:
        self._print(f"checkpoint saved: {path}")


def format_eval(record: dict[str, Any]) -> str:
    text = f"step {record['step']} | validation loss {record['val_loss']:.4f} | perplexity {record['val_perplexity']:.2f}"
    if "val_bits_per_byte" in record:
        text += f" | bits/byte {record['val_bits_per_byte']:.3f}"
    return text


class ProgressBar(Callback):
    """A tqdm progress bar over the optimizer steps: loss, tokens/s and ETA; log lines above it.

    :param stream: where to draw (default stderr). tqdm hides the bar when it is not a terminal
        unless ``always``; log lines are then printed plainly.
    """

    def __init__(self, stream: TextIO | None = None, always: bool = False) -> None:
        self.stream, self.always = stream, always
        self.bar: Any = None

    def on_train_start(self, trainer: Any) -> None:
        from tqdm.auto import tqdm

        stream = self.stream or sys.stderr
        self.bar = tqdm(total=trainer.config.max_steps, initial=trainer.step, unit="step", file=stream,
                        dynamic_ncols=True, disable=False if self.always else None, leave=True)

    def on_step_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        if self.bar is not None:
            postfix = {"loss": f"{record['loss']:.4f}", "tok/s": f"{record['tokens_per_s']:.0f}"}
            if record.get("spikes_mean"):
                postfix["spikes"] = f"{record['spikes_mean']['firing_rate']:.2f}"
            self.bar.set_postfix(postfix, refresh=False)
        self._write(format_log(record))

    def on_eval(self, trainer: Any, record: dict[str, Any]) -> None:
        self._write(format_eval(record))

    def on_message(self, trainer: Any, message: str) -> None:
        self._write(message)

    def on_checkpoint(self, trainer: Any, path: Path) -> None:
        self._write(f"checkpoint saved: {path}")

    def on_train_end(self, trainer: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _write(self, text: str) -> None:
        if self.bar is not None and not self.bar.disable:
            self.bar.write(text, file=self.stream or sys.stderr)
        else:
            print(text, file=sys.stdout, flush=True)


class JSONLLogger(Callback):
    """Appends every log record (``"kind": "train"``) and evaluation (``"kind": "eval"``) to ``path``,
    one JSON object per line; checkpoints (``"kind": "checkpoint"``) too.

    When training resumes at step ``N``, lines of steps after ``N`` (written by the run that was
    killed after its last checkpoint) are dropped first, so the file tells one consistent history.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_train_start(self, trainer: Any) -> None:
        if not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                step = json.loads(line).get("step", 0)
            except (json.JSONDecodeError, AttributeError):
                continue  # a line cut short by a kill
            if isinstance(step, int) and step <= trainer.step:
                kept.append(line)
        atomic_write_bytes(self.path, "".join(line + "\n" for line in kept).encode())

    def _append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(_finite(record), ensure_ascii=False) + "\n")

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        self._append({"kind": "train", **record})

    def on_eval(self, trainer: Any, record: dict[str, Any]) -> None:
        self._append({"kind": "eval", **record})

    def on_checkpoint(self, trainer: Any, path: Path) -> None:
        self._append({"kind": "checkpoint", "step": trainer.step, "path": str(path)})


class TensorBoardLogger(Callback):
    """Writes scalars (``train/loss``, ``train/lr``, ``train/tokens_per_s``, ``val/loss``, …,
    ``spikes/<layer>/firing_rate`` …) with ``torch.utils.tensorboard`` to ``log_dir``.

    Needs the ``tensorboard`` package: ``pip install "fastsnn-core[tensorboard]"``.
    :param writer: a ``SummaryWriter``-like object (tests pass one); built from ``log_dir`` if None.
    """

    def __init__(self, log_dir: str | Path, writer: Any = None) -> None:
        if writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise FastSNNError(
                    "TensorBoard logging needs the tensorboard package: pip install \"fastsnn-core[tensorboard]\""
                ) from None
            writer = SummaryWriter(log_dir=str(log_dir))
        self.writer = writer

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        step = record["step"]
        for key in ("loss", "lr", "grad_norm", "tokens_per_s", "spike_penalty"):
            if key in record:
                self.writer.add_scalar(f"train/{key}", record[key], step)
        for layer, values in (record.get("spikes") or {}).items():
            for key, value in values.items():
                self.writer.add_scalar(f"spikes/{layer}/{key}", value, step)

    def on_eval(self, trainer: Any, record: dict[str, Any]) -> None:
        for key, value in record.items():
            if key.startswith("val_") and isinstance(value, (int, float)):
                self.writer.add_scalar(f"val/{key[4:]}", value, record["step"])

    def on_train_end(self, trainer: Any) -> None:
        self.writer.flush()


class FunctionLogger(Callback):
    """Adapts a plain function ``fn(record)`` to receive the log records."""

    def __init__(self, fn: Callable[[dict[str, Any]], None]) -> None:
        self.fn = fn

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        self.fn(record)


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: they become strings ("nan", "inf")."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
