"""Train, convert and export configs, and the file that may hold them all."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fastsnn.config.model import ModelConfig
from fastsnn.config.refs import ExporterRef, NeuronRef, RuleRef
from fastsnn.kind_table import DEFAULT_NEURON


class SpikeRegularizer(BaseModel):
    """Keeps each spiking layer's firing rate (mean |spike count| per value) inside a band.

    The penalty added to the loss is ``weight · mean over layers of (relu(min_rate − r)² +
    relu(r − max_rate)²)``, where ``r`` is the layer's differentiable mean |count| in the step
    (counts pass gradients through the neuron's surrogate). A silent layer is pushed up, an
    all-firing one down; inside the band it costs nothing.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    weight: float = Field(0.01, gt=0, description="scale of the penalty added to the loss")
    min_rate: float = Field(0.05, ge=0, description="lowest mean |count| per value before the penalty pushes up")
    max_rate: float = Field(4.0, gt=0, description="highest mean |count| per value before the penalty pushes down")

    @model_validator(mode="after")
    def _band(self) -> SpikeRegularizer:
        if self.min_rate >= self.max_rate:
            raise ValueError(f"min_rate ({self.min_rate}) must be below max_rate ({self.max_rate})")
        return self


class TrainConfig(BaseModel):
    """How to train: optimiser, schedule, precision, logging, evaluation, checkpoints and scale-out.

    ``batch_size`` is the *global* batch of one optimizer step: summed over the processes of a
    distributed run and over the ``grad_accum_steps`` micro-batches of each process. Each process
    runs micro-batches of ``batch_size / (world_size · grad_accum_steps)`` sequences, which must be
    a whole number.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    max_steps: int = Field(100, gt=0, description="optimizer steps")
    lr: float = Field(1e-3, gt=0, description="peak learning rate (AdamW)")
    weight_decay: float = Field(0.0, ge=0, description="AdamW decay of matrices (never norms, biases, embeddings)")
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = Field(0, ge=0, description="linear warm-up steps, then cosine decay to min_lr_ratio·lr")
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    grad_clip: float | None = Field(1.0, gt=0, description="max global grad norm (None: no clipping)")
    log_every: int = Field(10, gt=0, description="log the loss (and spike statistics) every N steps")
    batch_size: int = Field(8, gt=0, description="sequences per optimizer step, over all processes")
    seq_len: int = Field(128, gt=1, description="tokens per training window (the model sees seq_len − 1)")
    grad_accum_steps: int = Field(1, gt=0, description="micro-batches per optimizer step (gradient accumulation)")
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="autocast dtype of the forward pass (weights and optimizer stay fp32)")
    seed: int = 0
    device: str = "cpu"
    checkpoint_dir: Path | None = Field(None, description="where to write safetensors checkpoints")
    checkpoint_every: int = Field(0, ge=0, description="save every N steps (0: only at the end, if a dir is set)")
    eval_every: int = Field(0, ge=0, description="evaluate on the validation data every N steps (0: never)")
    eval_batches: int | None = Field(20, gt=0, description="validation batches per evaluation (None: all)")
    spike_stats: bool = Field(True, description="record per-layer spike statistics on the steps that log")
    spike_regularizer: SpikeRegularizer | None = Field(None, description="keep firing rates inside a band")
    activation_checkpointing: bool = Field(
        False, description="recompute each block's activations in backward (less memory, ~1/3 more compute)")
    distributed: Literal["auto", "none", "ddp", "fsdp"] = Field(
        "auto", description="under torchrun: DDP (auto, ddp) or FSDP fully_shard (fsdp); none: single process")
    distill_weight: float = Field(
        0.0, ge=0, le=1, description="α: (1−α)·CE + α·τ²·KL(teacher ‖ student) when the Trainer has a teacher")
    distill_temperature: float = Field(1.0, gt=0, description="τ of the distillation term")

    @model_validator(mode="after")
    def _steps(self) -> TrainConfig:
        if self.batch_size % self.grad_accum_steps:
            raise ValueError(f"grad_accum_steps ({self.grad_accum_steps}) must divide batch_size ({self.batch_size})")
        return self


class DataConfig(BaseModel):
    """Where the text comes from and how it becomes tokens (the ``[data]`` table).

    ``fastsnn train --data PATH`` gives the text; these settings say how to read it.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    tokenizer: Literal["byte", "char", "bpe"] = Field(
        "byte", description="byte: 256 ids, any input; char: the text's characters; bpe: trained here (extra 'bpe')")
    bpe_vocab_size: int = Field(1024, ge=260, le=1 << 20, description="vocabulary of a BPE tokenizer trained here")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="the last part of the corpus held out for validation")
    cache_dir: Path | None = Field(
        None, description="token files (default: $FASTSNN_CACHE or ~/.cache/fastsnn/tokens)")


class ConvertConfig(BaseModel):
    """ANN→SNN conversion: which neuron replaces activations, and which rules run."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    neuron: NeuronRef = Field(DEFAULT_NEURON, description="spiking neuron inserted for activations")
    rules: list[RuleRef] | None = Field(None, description="rules to apply (default: every registered rule)")
    d_model_fallback: int | None = Field(None, gt=0)


class ExportConfig(BaseModel):
    """Where and how to export a model."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    exporter: ExporterRef = Field("safetensors")
    path: Path = Path("model.fastsnn")


class RunConfig(BaseModel):
    """A whole pipeline in one file: ``[model]``, ``[data]``, ``[train]``, ``[convert]``, ``[export]`` tables."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    model: ModelConfig | None = None
    data: DataConfig | None = None
    train: TrainConfig | None = None
    convert: ConvertConfig | None = None
    export: ExportConfig | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> RunConfig:
        if not any((self.model, self.data, self.train, self.convert, self.export)):
            raise ValueError("the config has none of the tables [model], [data], [train], [convert], [export]")
        return self
