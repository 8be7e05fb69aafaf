"""The default exporter: a model folder (safetensors weights + JSON config; no pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from fastsnn.export.base import Exporter
from fastsnn.model_folder import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, save_model_folder


class SafetensorsExporter(Exporter):
    """Write a model folder: ``model.safetensors`` + ``config.json`` (+ ``tokenizer.json``)."""

    def export(self, model: nn.Module, path: str | Path, metadata: dict[str, Any] | None = None) -> list[Path]:
        metadata = dict(metadata or {})
        tokenizer = metadata.pop("tokenizer", None)
        folder = save_model_folder(model, path, metadata=metadata, tokenizer=tokenizer)
        names = [WEIGHTS_FILE, CONFIG_FILE] + ([TOKENIZER_FILE] if tokenizer is not None else [])
        return [folder / name for name in names]
