"""Trainer: next-token training of a language model with AdamW, warm-up + cosine, grad clipping,
evaluation and exactly-resumable safetensors checkpoints.

>>> trainer = Trainer(model, TrainConfig(max_steps=10, log_every=2, lr=1e-3))   # doctest: +SKIP
>>> history = trainer.fit(batches)        # batches yield LongTensor token ids [B, T]  # doctest: +SKIP

Checkpoints are step folders (a model folder plus the training state) laid out by
:mod:`fastsnn.train.checkpoints`; a killed run leaves the last good one intact.
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn.config.run import TrainConfig
from fastsnn.errors import FastSNNError
from fastsnn.model_folder import WEIGHTS_FILE, load_into
from fastsnn.train.callbacks import Callback, FunctionLogger, PrintLogger
from fastsnn.train.checkpoints import STATE_TENSORS, read_checkpoint, resolve_checkpoint, write_checkpoint
from fastsnn.train.schedule import lr_at
from fastsnn.train.state import (
    join_data_state,
    load_optimizer_state,
    load_rng_state,
    optimizer_state,
    parameter_names,
    rng_state,
    split_data_state,
)

__all__ = ["TrainConfig", "Trainer", "next_token_loss", "resolve_checkpoint"]


def next_token_loss(model: nn.Module, ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy of predicting ``ids[:, 1:]`` from ``model(ids[:, :-1])``.

    :param ids: token ids ``[B, T]``; the model must map ``[B, T-1]`` to logits ``[B, T-1, V]``.
    :returns: ``(loss, number_of_predicted_tokens)``.
    """
    inputs, targets = ids[:, :-1], ids[:, 1:]
    logits = model(inputs)  # (B, T-1, V)
    if not isinstance(logits, torch.Tensor) or logits.shape[:2] != inputs.shape or logits.dim() != 3:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise FastSNNError(
            f"the model must map token ids {tuple(inputs.shape)} to logits (batch, time, vocab), got {shape}"
        )
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))
    return loss, targets.numel()


def vocab_size_of(model: nn.Module) -> int | None:
    """The number of token ids ``model`` accepts: ``model.config.vocab_size`` or its first Embedding."""
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    if isinstance(size, int):
        return size
    embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    return embedding.num_embeddings if embedding is not None else None


def check_token_batch(batch: Any, vocab_size: int | None, where: str) -> torch.Tensor:
    """Validate one batch of token ids ``[B, T]`` (integer, T ≥ 2, 0 ≤ id < vocab_size)."""
    if not isinstance(batch, torch.Tensor):
        raise FastSNNError(f"{where}: batches must be LongTensors of token ids [B, T], got {type(batch).__name__}")
    if batch.dim() != 2:
        raise FastSNNError(f"{where}: token ids must have shape [batch, time], got {tuple(batch.shape)}")
    if batch.dtype.is_floating_point or batch.dtype.is_complex or batch.dtype == torch.bool:
        raise FastSNNError(f"{where}: token ids must be an integer tensor, got {batch.dtype}")
    if batch.shape[0] == 0 or batch.shape[1] < 2:
        raise FastSNNError(
            f"{where}: need at least one sequence of at least 2 tokens (input + next token), got {tuple(batch.shape)}"
        )
    low, high = int(batch.min()), int(batch.max())
    if low < 0:
        raise FastSNNError(f"{where}: token ids must be >= 0, found {low}")
    if vocab_size is not None and high >= vocab_size:
        raise FastSNNError(
            f"{where}: token id {high} is out of range for the model's vocab_size={vocab_size} "
            f"(ids must be < {vocab_size}); check the tokenizer or enlarge vocab_size"
        )
    return batch.long()


class Trainer:
    """Trains ``model`` (token ids ``[B, T-1]`` → logits ``[B, T-1, V]``) on next-token prediction.

    :param model: e.g. :class:`fastsnn.model.SpikingLM`.
    :param config: a :class:`~fastsnn.config.TrainConfig` (or a dict validated as one).
    :param callbacks: :class:`~fastsnn.train.callbacks.Callback` objects or functions
        ``fn(record)``; default one :class:`~fastsnn.train.callbacks.PrintLogger`.
    """

    def __init__(self, model: nn.Module, config: TrainConfig | dict[str, Any] | None = None, *,
                 callbacks: Iterable[Callback | Callable[[dict[str, Any]], None]] | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise FastSNNError(f"Trainer needs a torch.nn.Module, got {type(model).__name__}")
        if config is None:
            config = TrainConfig()
        elif isinstance(config, dict):
            config = TrainConfig.model_validate(config)
        elif not isinstance(config, TrainConfig):
            raise FastSNNError(f"config must be a TrainConfig or a dict, got {type(config).__name__}")
        self.config = config
        self.device = _device(config.device)
        self.model = model.to(self.device)
        self.vocab_size = vocab_size_of(model)
        torch.manual_seed(config.seed)
        self.optimizer = self._make_optimizer()
        self.callbacks = [cb if isinstance(cb, Callback) else FunctionLogger(cb)
                          for cb in (callbacks if callbacks is not None else [PrintLogger()])]
        self.step = 0  # optimizer steps taken
        self.batches_consumed = 0  # batches drawn from the data so far (for resuming plain iterables)
        self.history: list[dict[str, Any]] = []
        self._data_state: dict[str, Any] | None = None  # restored position for a stateful data source
        self._current_data: Any = None  # the source fit() is drawing from (its state goes into checkpoints)
        self._resuming = False  # the next fit() continues a loaded checkpoint's data position
        #: JSON-ready tokenizer description saved into every checkpoint (``tokenizer.json``), if any
        self.tokenizer: dict[str, Any] | None = None
        #: extra JSON-ready keys saved in every checkpoint's ``trainer_state.json`` (e.g. a run identity)
        self.checkpoint_metadata: dict[str, Any] = {}

    def _make_optimizer(self) -> torch.optim.AdamW:
        decay, no_decay = [], []
        for _, param in self.model.named_parameters():
            if param.requires_grad:
                (decay if param.dim() >= 2 else no_decay).append(param)
        if not decay and not no_decay:
            raise FastSNNError("the model has no trainable parameters (all have requires_grad=False)")
        groups = [{"params": decay, "weight_decay": self.config.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]  # no decay on biases and norm gains
        return torch.optim.AdamW([g for g in groups if g["params"]], lr=self.config.lr, betas=self.config.betas)

    # -- training ---------------------------------------------------------------------------
    def fit(self, batches: Iterable[torch.Tensor], *, resume_from: str | Path | None = None) -> list[dict[str, Any]]:
        """Train until ``config.max_steps`` (or the data ends); returns the history, one record per step.

        Each record: ``step``, ``loss``, ``lr``, ``grad_norm``, ``tokens``. ``batches`` yields
        LongTensors ``[B, T]``. After :meth:`load_checkpoint` (or with ``resume_from``) training
        continues where the checkpoint stopped: a data source with ``state_dict()`` /
        ``load_state_dict()`` (like :class:`fastsnn.data.RandomWindows`) is put back to its saved
        position; a plain iterable must yield the same sequence again and the batches already
        used are skipped. Without a checkpoint, a second ``fit`` simply continues on the new data.
        """
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        if self.step >= self.config.max_steps:
            self._message(f"already at step {self.step} of max_steps={self.config.max_steps}; nothing to do")
            return self.history
        data = self._position(batches)
        cfg = self.config
        interval_losses: list[float] = []
        interval_tokens, interval_start = 0, time.perf_counter()
        drawn_here = 0
        last_saved_step = None
        self.model.train()
        for batch in data:
            drawn_here += 1
            ids = check_token_batch(batch, self.vocab_size, f"batch {self.batches_consumed}").to(self.device)
            self.batches_consumed += 1
            record = self._train_step(ids)
            interval_losses.append(record["loss"])
            interval_tokens += record["tokens"]
            if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                elapsed = max(time.perf_counter() - interval_start, 1e-9)
                self._log({**record, "loss": sum(interval_losses) / len(interval_losses),
                           "tokens_per_s": interval_tokens / elapsed})
                interval_losses, interval_tokens, interval_start = [], 0, time.perf_counter()
            if cfg.checkpoint_dir is not None and cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
                last_saved_step = self.step
            if self.step >= cfg.max_steps:
                break
        if drawn_here == 0:
            raise FastSNNError(
                "the training data yielded no batches"
                + (f" after skipping the {self.batches_consumed} already used" if self.batches_consumed else "")
                + "; pass an iterable of LongTensor token ids [B, T]"
            )
        if self.step < cfg.max_steps:
            self._message(f"the training data ran out after {self.step} of {cfg.max_steps} steps")
        if cfg.checkpoint_dir is not None and last_saved_step != self.step:
            self.save_checkpoint()
        return self.history

    def _train_step(self, ids: torch.Tensor) -> dict[str, Any]:
        lr = lr_at(self.step, self.config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss, tokens = next_token_loss(self.model, ids)
        if not torch.isfinite(loss):
            raise FastSNNError(
                f"the loss is {float(loss.detach())} at step {self.step + 1}: training diverged; "
                f"lower lr (now {lr:.3g}) or set grad_clip"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        max_norm = self.config.grad_clip if self.config.grad_clip is not None else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        self.optimizer.step()
        self.step += 1
        record = {"step": self.step, "loss": float(loss.detach()), "lr": lr, "grad_norm": grad_norm, "tokens": tokens}
        self.history.append(record)
        return record

    def _position(self, batches: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """An iterator over ``batches`` that continues from the restored data position."""
        if isinstance(batches, (torch.Tensor, str, bytes)) or not hasattr(batches, "__iter__"):
            raise FastSNNError(
                f"fit() needs an iterable of LongTensor batches [B, T], got {type(batches).__name__}"
                + ("; wrap a single batch in a list: fit([ids])" if isinstance(batches, torch.Tensor) else "")
            )
        self._current_data = batches
        resuming, self._resuming = self._resuming, False
        data_state, self._data_state = self._data_state, None
        if resuming and data_state is not None and hasattr(batches, "load_state_dict"):
            batches.load_state_dict(data_state)
            return iter(batches)
        iterator = iter(batches)
        if resuming and self.batches_consumed:
            skipped = sum(1 for _ in itertools.islice(iterator, self.batches_consumed))
            if skipped < self.batches_consumed:
                raise FastSNNError(
                    f"cannot resume: the checkpoint used {self.batches_consumed} batches but the data only has "
                    f"{skipped}; pass the same data (or a stateful source such as fastsnn.data.RandomWindows)"
                )
        return iterator

    # -- evaluation ---------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, batches: Iterable[torch.Tensor], max_batches: int | None = None) -> dict[str, float]:
        """Token-weighted mean next-token loss over ``batches`` and its perplexity ``exp(loss)``.

        :returns: ``{"loss", "perplexity", "tokens", "batches"}``.
        """
        if max_batches is not None and max_batches <= 0:
            raise FastSNNError(f"max_batches must be positive, got {max_batches}")
        was_training = self.model.training
        self.model.eval()
        total, tokens, count = 0.0, 0, 0
        try:
            for batch in itertools.islice(batches, max_batches):
                ids = check_token_batch(batch, self.vocab_size, f"evaluation batch {count}").to(self.device)
                loss, n = next_token_loss(self.model, ids)
                total += float(loss) * n
                tokens += n
                count += 1
        finally:
            self.model.train(was_training)
        if count == 0:
            raise FastSNNError("evaluate() got no batches; pass an iterable of LongTensor token ids [B, T]")
        mean = total / tokens
        return {"loss": mean, "perplexity": math.exp(min(mean, 700.0)), "tokens": tokens, "batches": count}

    # -- checkpoints ----------------------------------------------------------------------------
    def save_checkpoint(self, directory: str | Path | None = None, data: Any = None) -> Path:
        """Write ``<directory>/step_<N>/`` and point ``<directory>/latest`` at it; returns the step folder.

        ``directory`` defaults to ``config.checkpoint_dir``. The data position saved is the data
        source's ``state_dict()`` if the last (or given) source has one, else the batch count.
        """
        root = Path(directory) if directory is not None else self.config.checkpoint_dir
        if root is None:
            raise FastSNNError("no checkpoint directory: set TrainConfig.checkpoint_dir or pass one")
        names = parameter_names(self.model)
        opt_tensors, opt_meta = optimizer_state(self.optimizer, names)
        rng_tensors, rng_meta = rng_state()
        source = data if data is not None else self._current_data
        data_tensors, data_meta = ({}, None)
        if source is not None and hasattr(source, "state_dict"):
            data_tensors, data_meta = split_data_state(source.state_dict())
        state_meta = {
            "batches_consumed": self.batches_consumed,
            "train_config": self.config.model_dump(mode="json"),
            "optimizer": opt_meta,
            "rng": rng_meta,
            "data": data_meta,
            "history": self.history,
            **self.checkpoint_metadata,
        }
        step_dir = write_checkpoint(root, self.step, self.model, {**opt_tensors, **rng_tensors, **data_tensors},
                                    state_meta, tokenizer=self.tokenizer)
        for callback in self.callbacks:
            callback.on_checkpoint(self, step_dir)
        return step_dir

    def load_checkpoint(self, path: str | Path) -> Path:
        """Restore model, optimizer, RNG, step, history and data position from a checkpoint.

        ``path`` is a step folder or a checkpoint directory (its ``latest`` is used). Any missing,
        corrupt or mismatching file or tensor is an error naming it; nothing is half-loaded.
        """
        step_dir, meta, weights, state = read_checkpoint(path)
        weights_file, state_file = step_dir / WEIGHTS_FILE, step_dir / STATE_TENSORS
        # validate everything before touching the model, so a bad file changes nothing
        names = parameter_names(self.model)
        snapshot_model = {k: v.clone() for k, v in self.model.state_dict().items()}
        snapshot_opt = self.optimizer.state_dict()
        try:
            load_into(self.model, weights, source=str(weights_file))
            load_optimizer_state(self.optimizer, names, state, meta.get("optimizer", {}), state_file)
            load_rng_state(state, meta.get("rng", {}), state_file)
        except FastSNNError:
            self.model.load_state_dict(snapshot_model)
            self.optimizer.load_state_dict(snapshot_opt)
            raise
        self.step = int(meta["step"])
        self.batches_consumed = int(meta.get("batches_consumed", 0))
        self.history = list(meta.get("history", []))
        data_meta = meta.get("data")
        self._data_state = join_data_state(state, data_meta) if data_meta is not None else None
        self._resuming = True
        self._message(f"resumed from {step_dir} at step {self.step}")
        return step_dir

    # -- reporting ------------------------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_log(self, record)

    def _message(self, message: str) -> None:
        for callback in self.callbacks:
            callback.on_message(self, message)


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise FastSNNError(f"TrainConfig.device {name!r} is not a valid torch device: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FastSNNError(f"TrainConfig.device is {name!r} but CUDA is not available here; use device='cpu'")
    return device
