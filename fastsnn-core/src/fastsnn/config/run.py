"""Train, convert and export configs, and the file that may hold them all."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fastsnn.config.model import ModelConfig
from fastsnn.config.refs import ExporterRef, NeuronRef, RuleRef
from fastsnn.kind_table import DEFAULT_NEURON


class TrainConfig(BaseModel):
    """How to train: optimiser, schedule, logging and checkpoints."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    max_steps: int = Field(100, gt=0, description="optimizer steps")
    lr: float = Field(1e-3, gt=0, description="peak learning rate (AdamW)")
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = Field(0, ge=0, description="linear warm-up steps, then cosine decay to min_lr_ratio·lr")
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    grad_clip: float | None = Field(1.0, gt=0, description="max global grad norm (None: no clipping)")
    log_every: int = Field(10, gt=0, description="print the loss every N steps")
    batch_size: int = Field(8, gt=0)
    seq_len: int = Field(128, gt=1)
    seed: int = 0
    device: str = "cpu"
    checkpoint_dir: Path | None = Field(None, description="where to write safetensors checkpoints")
    checkpoint_every: int = Field(0, ge=0, description="save every N steps (0: only at the end, if a dir is set)")


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
    """A whole pipeline in one file: ``[model]``, ``[train]``, ``[convert]``, ``[export]`` tables."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    model: ModelConfig | None = None
    train: TrainConfig | None = None
    convert: ConvertConfig | None = None
    export: ExportConfig | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> RunConfig:
        if not any((self.model, self.train, self.convert, self.export)):
            raise ValueError("the config has none of the tables [model], [train], [convert], [export]")
        return self
