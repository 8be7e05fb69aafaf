"""Trainer: next-token training of a language model — AdamW with weight-decay groups, warm-up +
cosine, clipping, gradient accumulation, bf16/fp16 autocast, periodic evaluation (loss,
perplexity, bits per byte), per-layer spike statistics and a firing-rate regulariser, callbacks,
DDP/FSDP under torchrun, activation checkpointing, and exactly-resumable safetensors checkpoints.

>>> trainer = Trainer(model, TrainConfig(max_steps=10, log_every=2, lr=1e-3))   # doctest: +SKIP
>>> history = trainer.fit(batches)        # batches yield LongTensor token ids [B, T]  # doctest: +SKIP

Checkpoints are step folders (a model folder plus the training state) laid out by
:mod:`fastsnn.train.checkpoints`; a killed run leaves the last good one intact, and a run whose
loss turns NaN/inf stops without writing, so the last checkpoint is the last finite one.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
import types
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn.config.run import TrainConfig
from fastsnn.errors import FastSNNError
from fastsnn.model_folder import WEIGHTS_FILE, load_into
from fastsnn.safe_io import dedupe_shared
from fastsnn.train import distributed
from fastsnn.train.callbacks import Callback, FunctionLogger, PrintLogger
from fastsnn.train.checkpoints import (
    STATE_TENSORS,
    read_checkpoint,
    resolve_checkpoint,
    step_folder_name,
    write_checkpoint,
)
from fastsnn.train.distill import check_teacher, distillation_loss
from fastsnn.train.distributed import DistContext
from fastsnn.train.schedule import lr_at
from fastsnn.train.spike_monitor import SpikeMonitor, summarize
from fastsnn.train.state import (
    join_data_state,
    load_optimizer_state,
    load_rng_state,
    optimizer_state,
    parameter_names,
    rng_state,
    split_data_state,
)

__all__ = ["NonFiniteLossError", "TrainConfig", "Trainer", "next_token_loss", "resolve_checkpoint"]

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class NonFiniteLossError(FastSNNError):
    """The loss became NaN or inf: training stopped without saving that step."""


def next_token_logits(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``model(inputs)``, checked to be logits ``[B, T, V]`` for ids ``[B, T]``."""
    logits = model(inputs)  # (B, T, V)
    if not isinstance(logits, torch.Tensor) or logits.shape[:2] != inputs.shape or logits.dim() != 3:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise FastSNNError(
            f"the model must map token ids {tuple(inputs.shape)} to logits (batch, time, vocab), got {shape}"
        )
    return logits


def next_token_loss(model: nn.Module, ids: torch.Tensor, reduction: str = "mean") -> tuple[torch.Tensor, int]:
    """Cross-entropy (in fp32) of predicting ``ids[:, 1:]`` from ``model(ids[:, :-1])``.

    :param ids: token ids ``[B, T]``; the model must map ``[B, T-1]`` to logits ``[B, T-1, V]``.
    :param reduction: ``"mean"`` (a scalar) or ``"none"`` (``[B·(T-1)]``, one loss per target).
    :returns: ``(loss, number_of_predicted_tokens)``.
    """
    loss, n, _ = _next_token_loss_and_logits(model, ids, reduction)
    return loss, n


def _next_token_loss_and_logits(model: nn.Module, ids: torch.Tensor,
                                reduction: str = "mean") -> tuple[torch.Tensor, int, torch.Tensor]:
    inputs, targets = ids[:, :-1], ids[:, 1:]
    logits = next_token_logits(model, inputs)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), reduction=reduction)
    return loss, targets.numel(), logits


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


def weight_decay_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(decay, no_decay)`` trainable parameters: matrices decay; biases, norm gains (any tensor
    with fewer than 2 axes) and embeddings (every ``nn.Embedding`` weight, also when tied to the
    output head) do not. Shared parameters appear once."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay, seen = [], [], set()
    for param in model.parameters():
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))
        (decay if param.dim() >= 2 and id(param) not in embeddings else no_decay).append(param)
    return decay, no_decay


class Trainer:
    """Trains ``model`` (token ids ``[B, T-1]`` → logits ``[B, T-1, V]``) on next-token prediction.

    :param model: e.g. :class:`fastsnn.model.SpikingLM`.
    :param config: a :class:`~fastsnn.config.TrainConfig` (or a dict validated as one).
    :param callbacks: :class:`~fastsnn.train.callbacks.Callback` objects or functions
        ``fn(record)`` (given the log records); default one :class:`~fastsnn.train.callbacks.PrintLogger`.
        In a distributed run only rank 0 calls them.
    :param dist: where this process stands in a distributed run; default: found from the
        environment per ``config.distributed`` (torchrun's variables; a single process otherwise).

    Attributes set by the caller before :meth:`fit` (the CLI does): ``tokenizer`` (JSON saved as
    ``tokenizer.json`` in checkpoints), ``token_bytes`` (``[vocab]`` UTF-8 bytes per id, for bits
    per byte) and ``checkpoint_metadata`` (extra keys of ``trainer_state.json``).
    """

    def __init__(self, model: nn.Module, config: TrainConfig | dict[str, Any] | None = None, *,
                 callbacks: Iterable[Callback | Callable[[dict[str, Any]], None]] | None = None,
                 dist: DistContext | None = None, teacher: nn.Module | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise FastSNNError(f"Trainer needs a torch.nn.Module, got {type(model).__name__}")
        if config is None:
            config = TrainConfig()
        elif isinstance(config, dict):
            config = TrainConfig.model_validate(config)
        elif not isinstance(config, TrainConfig):
            raise FastSNNError(f"config must be a TrainConfig or a dict, got {type(config).__name__}")
        self.config = config
        self.dist = dist if dist is not None else distributed.setup(config.distributed, config.device)
        self.device = _device(distributed.device_for(self.dist, config.device))
        self.autocast_dtype = _autocast_dtype(config.precision, self.device)
        self.model = model.to(self.device)
        self.vocab_size = vocab_size_of(model)
        #: the model distilled from (``config.distill_weight > 0``; see :mod:`fastsnn.train.distill`)
        self.teacher = check_teacher(teacher, config.distill_weight)
        if self.teacher is not None:
            self.teacher.to(self.device)
        torch.manual_seed(config.seed)
        if config.activation_checkpointing:
            enable_activation_checkpointing(model)
        self.monitor = SpikeMonitor(model, config.spike_regularizer)
        self._weight_names = list(dedupe_shared(model.state_dict()))
        self.train_model = distributed.wrap_model(model, self.dist)  # what forward runs through
        self.optimizer = self._make_optimizer()
        self.scaler = torch.amp.GradScaler(self.device.type) if config.precision == "fp16" else None
        self.callbacks = [cb if isinstance(cb, Callback) else FunctionLogger(cb)
                          for cb in (callbacks if callbacks is not None else [PrintLogger()])]
        self.step = 0  # optimizer steps taken
        self.batches_consumed = 0  # batches drawn from the data so far (for resuming plain iterables)
        self.history: list[dict[str, Any]] = []
        self._data_state: dict[str, Any] | None = None  # restored position for a stateful data source
        self._current_data: Any = None  # the source fit() is drawing from (its state goes into checkpoints)
        self._resuming = False  # the next fit() continues a loaded checkpoint's data position
        self.last_checkpoint: Path | None = None
        #: JSON-ready tokenizer description saved into every checkpoint (``tokenizer.json``), if any
        self.tokenizer: dict[str, Any] | None = None
        #: ``[vocab]`` UTF-8 bytes per token id; evaluation reports bits per byte when set
        self.token_bytes: torch.Tensor | None = None
        #: extra JSON-ready keys saved in every checkpoint's ``trainer_state.json`` (e.g. a run identity)
        self.checkpoint_metadata: dict[str, Any] = {}

    def _make_optimizer(self) -> torch.optim.AdamW:
        decay, no_decay = weight_decay_groups(self.model)
        if not decay and not no_decay:
            raise FastSNNError("the model has no trainable parameters (all have requires_grad=False)")
        groups = [{"params": decay, "weight_decay": self.config.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]  # no decay on biases, norm gains, embeddings
        return torch.optim.AdamW([g for g in groups if g["params"]], lr=self.config.lr, betas=self.config.betas)

    # -- training ---------------------------------------------------------------------------
    def fit(self, batches: Iterable[torch.Tensor], *, resume_from: str | Path | None = None,
            eval_data: Callable[[], Iterable[torch.Tensor]] | Iterable[torch.Tensor] | None = None,
            ) -> list[dict[str, Any]]:
        """Train until ``config.max_steps`` (or the data ends); returns the history, one record per step.

        Each record: ``step``, ``loss``, ``lr``, ``grad_norm``, ``tokens``. ``batches`` yields
        LongTensors ``[B, T]`` — in a distributed run, this process's rows of the global batch
        (``config.batch_size / world_size``). After :meth:`load_checkpoint` (or with
        ``resume_from``) training continues where the checkpoint stopped: a data source with
        ``state_dict()`` / ``load_state_dict()`` (like :class:`fastsnn.data.RandomWindows`) is put
        back to its saved position; a plain iterable must yield the same sequence again and the
        batches already used are skipped. Without a checkpoint, a second ``fit`` continues on the
        new data.

        :param eval_data: validation batches for ``config.eval_every`` (a list, or a function
            returning a fresh iterable each time).
        :raises NonFiniteLossError: the loss became NaN/inf (nothing is saved for that step).
        """
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        if self.step >= self.config.max_steps:
            self._message(f"already at step {self.step} of max_steps={self.config.max_steps}; nothing to do")
            return self.history
        if self.config.eval_every and eval_data is None:
            raise FastSNNError("TrainConfig.eval_every is set but fit() got no eval_data; pass validation batches")
        data = self._position(batches)
        cfg = self.config
        interval_losses: list[float] = []
        interval_tokens, interval_start = 0, time.perf_counter()
        drawn_here = 0
        last_saved_step = None
        self.train_model.train()
        self._event("on_train_start")
        try:
            for batch in data:
                drawn_here += 1
                ids = check_token_batch(batch, self.vocab_size, f"batch {self.batches_consumed}").to(self.device)
                self.batches_consumed += 1
                logging = (self.step + 1) % cfg.log_every == 0 or self.step + 1 == cfg.max_steps
                record = self._guarded_step(ids, logging)
                interval_losses.append(record["loss"])
                interval_tokens += record["tokens"]
                self._event("on_step_end", record)
                if logging:
                    elapsed = max(time.perf_counter() - interval_start, 1e-9)
                    self._log({**record, "loss": sum(interval_losses) / len(interval_losses),
                               "tokens_per_s": interval_tokens / elapsed})
                    interval_losses, interval_tokens, interval_start = [], 0, time.perf_counter()
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    self._periodic_eval(eval_data)
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
        finally:
            self._event("on_train_end")
        return self.history

    def _guarded_step(self, ids: torch.Tensor, logging: bool) -> dict[str, Any]:
        """One optimizer step; in a distributed run, a failure of the collective names what to do."""
        if not self.dist.active:
            return self._train_step(ids, logging)
        try:
            return self._train_step(ids, logging)
        except (RuntimeError, OSError) as err:  # gloo/nccl: a peer died or hung up
            where = f"the last checkpoint is {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint was written"
            raise FastSNNError(
                f"rank {self.dist.rank}: lost contact with the other processes at step {self.step + 1} "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); another process probably "
                f"failed — see its output. Stopping; {where} (intact: checkpoints are written atomically), "
                "continue with --resume"
            ) from None

    def _train_step(self, ids: torch.Tensor, logging: bool) -> dict[str, Any]:
        cfg = self.config
        accum = cfg.grad_accum_steps
        if ids.shape[0] % accum:
            raise FastSNNError(
                f"a batch of {ids.shape[0]} sequences does not split into grad_accum_steps={accum} equal micro-batches; "
                f"make the per-process batch (batch_size / world_size) a multiple of {accum}"
            )
        lr = lr_at(self.step, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        stats = logging and cfg.spike_stats and self.dist.is_main
        rates = cfg.spike_regularizer is not None
        loss_sum, penalty_sum, distill_sum, tokens = 0.0, 0.0, 0.0, 0
        micro_batches = ids.split(ids.shape[0] // accum)
        for i, micro in enumerate(micro_batches):
            last = i == len(micro_batches) - 1
            with self._sync_gradients(last), self.monitor.record(stats=stats, rates=rates):
                with self._autocast():
                    loss, n, logits = _next_token_loss_and_logits(self.train_model, micro)
                self.monitor.stop()
                penalty = self.monitor.penalty()
                objective = loss if penalty is None else loss + penalty
                if self.teacher is not None:  # (1 − α)·CE + α·τ²·KL(teacher ‖ student)
                    with torch.no_grad(), self._autocast():
                        teacher_logits = next_token_logits(self.teacher, micro[:, :-1])
                    alpha = cfg.distill_weight
                    soft = distillation_loss(logits, teacher_logits, cfg.distill_temperature)
                    objective = objective - alpha * loss + alpha * soft
                    distill_sum += float(soft.detach())
                loss_sum += float(loss.detach())
                penalty_sum += float(penalty.detach()) if penalty is not None else 0.0
                tokens += n
                scaled = objective / accum
                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        loss_sum, penalty_sum, distill_sum, tokens = distributed.all_reduce_sum(
            [loss_sum, penalty_sum, distill_sum, float(tokens)], self.dist, self.device)
        mean_loss = loss_sum / (accum * self.dist.world_size)
        if not math.isfinite(mean_loss):
            self.optimizer.zero_grad(set_to_none=True)
            where = (f"the last checkpoint, {self.last_checkpoint}, holds the last finite state"
                     if self.last_checkpoint else "no checkpoint was written")
            raise NonFiniteLossError(
                f"the loss is {mean_loss} at step {self.step + 1} (precision {cfg.precision}, lr {lr:.3g}): training "
                f"diverged and stopped without saving this step; {where}. Resume from it with a lower lr, "
                "grad_clip, or precision fp32"
            )
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        max_norm = cfg.grad_clip if cfg.grad_clip is not None else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if hasattr(grad_norm, "full_tensor"):  # FSDP: a DTensor
            grad_norm = grad_norm.full_tensor()
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.step += 1
        record = {"step": self.step, "loss": mean_loss, "lr": lr, "grad_norm": float(grad_norm), "tokens": int(tokens)}
        if rates:
            record["spike_penalty"] = penalty_sum / (accum * self.dist.world_size)
        if self.teacher is not None:  # τ²·KL(teacher ‖ student); "loss" stays the cross-entropy
            record["distill_kl"] = distill_sum / (accum * self.dist.world_size)
        if stats:
            layers = self.monitor.take_stats()
            if layers:
                record["spikes"] = layers
                record["spikes_mean"] = summarize(layers)
        self.history.append(record)
        return record

    def _sync_gradients(self, sync: bool) -> Any:
        """DDP averages gradients on the last micro-batch only (``no_sync`` before it)."""
        if not sync and hasattr(self.train_model, "no_sync"):
            return self.train_model.no_sync()
        if not sync and self.dist.mode == "fsdp" and hasattr(self.train_model, "set_requires_gradient_sync"):
            self.train_model.set_requires_gradient_sync(False)
            return _restore_gradient_sync(self.train_model)
        return contextlib.nullcontext()

    def _autocast(self) -> Any:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _periodic_eval(self, eval_data: Any) -> None:
        batches = eval_data() if callable(eval_data) else eval_data
        result = self.evaluate(batches, max_batches=self.config.eval_batches)
        record = {"step": self.step, **{f"val_{k}": v for k, v in result.items() if k != "spikes"}}
        self.history[-1]["val_loss"] = result["loss"]
        self._event("on_eval", record)

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
    def evaluate(self, batches: Iterable[torch.Tensor], max_batches: int | None = None, *,
                 spike_stats: bool = False) -> dict[str, Any]:
        """Token-weighted mean next-token loss over ``batches`` (nats per token) and its perplexity.

        :returns: ``{"loss", "perplexity", "tokens", "batches"}``, plus ``"bits_per_byte"``
            (``Σ loss / ln 2 / Σ bytes of the predicted tokens``) when :attr:`token_bytes` is set,
            and ``"spikes"`` (per-layer statistics) with ``spike_stats``.
        """
        if max_batches is not None and max_batches <= 0:
            raise FastSNNError(f"max_batches must be positive, got {max_batches}")
        was_training = self.train_model.training
        self.train_model.eval()
        total, tokens, count, nbytes = 0.0, 0, 0, 0.0
        token_bytes = self.token_bytes.to(self.device) if self.token_bytes is not None else None
        try:
            with self.monitor.record(stats=spike_stats):
                for batch in itertools.islice(batches, max_batches):
                    ids = check_token_batch(batch, self.vocab_size, f"evaluation batch {count}").to(self.device)
                    with self._autocast():
                        losses, n = next_token_loss(self.train_model, ids, reduction="none")
                    total += float(losses.double().sum())
                    tokens += n
                    count += 1
                    if token_bytes is not None:
                        nbytes += float(token_bytes[ids[:, 1:].clamp(max=len(token_bytes) - 1)].sum())
        finally:
            self.train_model.train(was_training)
        if count == 0:
            raise FastSNNError("evaluate() got no batches; pass an iterable of LongTensor token ids [B, T]")
        mean = total / tokens
        result: dict[str, Any] = {"loss": mean, "perplexity": math.exp(min(mean, 700.0)), "tokens": tokens,
                                  "batches": count}
        if token_bytes is not None and nbytes > 0:
            result["bits_per_byte"] = total / math.log(2) / nbytes
            result["bytes"] = int(nbytes)
        if spike_stats:
            result["spikes"] = self.monitor.take_stats()
        return result

    # -- checkpoints ----------------------------------------------------------------------------
    def save_checkpoint(self, directory: str | Path | None = None, data: Any = None) -> Path:
        """Write ``<directory>/step_<N>/`` and point ``<directory>/latest`` at it; returns the step folder.

        ``directory`` defaults to ``config.checkpoint_dir``. The data position saved is the data
        source's ``state_dict()`` if the last (or given) source has one, else the batch count. In a
        distributed run every process must call it (FSDP gathers the shards); rank 0 writes.
        """
        root = Path(directory) if directory is not None else self.config.checkpoint_dir
        if root is None:
            raise FastSNNError("no checkpoint directory: set TrainConfig.checkpoint_dir or pass one")
        if self.dist.mode == "fsdp":
            weights, opt_tensors, opt_meta = distributed.full_state(self.model, self.optimizer, self._weight_names)
            model_view: nn.Module = _StateView(self.model, weights)
        else:
            names = parameter_names(self.model)
            opt_tensors, opt_meta = optimizer_state(self.optimizer, names)
            model_view = self.model
        step_dir = root / step_folder_name(self.step)
        if self.dist.is_main:
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
                "world_size": self.dist.world_size,
                **({"grad_scaler": self.scaler.state_dict()} if self.scaler is not None else {}),
                **self.checkpoint_metadata,
            }
            step_dir = write_checkpoint(root, self.step, model_view, {**opt_tensors, **rng_tensors, **data_tensors},
                                        state_meta, tokenizer=self.tokenizer)
            for callback in self.callbacks:
                callback.on_checkpoint(self, step_dir)
        distributed.barrier(self.dist)
        self.last_checkpoint = step_dir
        return step_dir

    def load_checkpoint(self, path: str | Path) -> Path:
        """Restore model, optimizer, RNG, step, history and data position from a checkpoint.

        ``path`` is a step folder or a checkpoint directory (its ``latest`` is used). Any missing,
        corrupt or mismatching file or tensor is an error naming it; nothing is half-loaded.
        """
        step_dir, meta, weights, state = read_checkpoint(path)
        weights_file, state_file = step_dir / WEIGHTS_FILE, step_dir / STATE_TENSORS
        if self.dist.mode == "fsdp":
            distributed.load_full_state(self.model, self.optimizer, weights, state, meta.get("optimizer", {}),
                                        str(weights_file), state_file, self._weight_names)
            load_rng_state(state, meta.get("rng", {}), state_file)
        else:
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
        if self.scaler is not None and isinstance(meta.get("grad_scaler"), dict):
            self.scaler.load_state_dict(meta["grad_scaler"])
        self.step = int(meta["step"])
        self.batches_consumed = int(meta.get("batches_consumed", 0))
        self.history = list(meta.get("history", []))
        data_meta = meta.get("data")
        self._data_state = join_data_state(state, data_meta) if data_meta is not None else None
        self._resuming = True
        self.last_checkpoint = step_dir
        self._message(f"resumed from {step_dir} at step {self.step}")
        return step_dir

    # -- reporting ------------------------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        self._event("on_log", record)

    def _message(self, message: str) -> None:
        self._event("on_message", message)

    def _event(self, name: str, *args: Any) -> None:
        if not self.dist.is_main:
            return
        for callback in self.callbacks:
            getattr(callback, name)(self, *args)


class _StateView(nn.Module):
    """Stands in for a sharded model when writing a checkpoint: its config, the gathered weights."""

    def __init__(self, model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.config = getattr(model, "config", None)
        self._weights = weights

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return dict(self._weights)


@contextlib.contextmanager
def _restore_gradient_sync(model: nn.Module) -> Iterator[None]:
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def _checkpointed_forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    forward = type(self).forward
    if self.training and torch.is_grad_enabled():
        return torch.utils.checkpoint.checkpoint(forward, self, *args, use_reentrant=False, **kwargs)
    return forward(self, *args, **kwargs)


def enable_activation_checkpointing(model: nn.Module) -> int:
    """Recompute each block of ``model.blocks`` in backward instead of keeping its activations.

    Parameter names and the state dict do not change. Returns the number of blocks.

    :raises FastSNNError: the model has no ``blocks`` (a ModuleList of its layers).
    """
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.ModuleList) or not len(blocks):
        raise FastSNNError(
            f"activation_checkpointing needs a model with a 'blocks' ModuleList (as SpikingLM); "
            f"{type(model).__name__} has none"
        )
    for block in blocks:
        block.forward = types.MethodType(_checkpointed_forward, block)
    return len(blocks)


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None for fp32).

    :raises FastSNNError: the device cannot autocast to it.
    """
    if precision == "fp32":
        return None
    dtype = AUTOCAST_DTYPES[precision]
    if device.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise FastSNNError(f"precision {precision!r}: this GPU does not support bfloat16; use fp16 or fp32")
    if not torch.amp.is_autocast_available(device.type):
        raise FastSNNError(f"precision {precision!r}: torch cannot autocast on {device.type}; use fp32")
    return dtype


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise FastSNNError(f"TrainConfig.device {name!r} is not a valid torch device: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FastSNNError(f"TrainConfig.device is {name!r} but CUDA is not available here; use device='cpu'")
    return device
