"""The model-folder exporter (``folder``, also registered as ``safetensors``): safetensors weights +
JSON config; no pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from fastsnn.export.base import Exporter
from fastsnn.model_folder import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, save_model_folder


def needs_model_config(model: nn.Module, format_name: str) -> list[str]:
    """The problem line for a model without a FastSNN model config (empty when it has one)."""
    if hasattr(getattr(model, "config", None), "model_dump"):
        return []
    return [f"(root) ({type(model).__name__}): not a FastSNN language model — {format_name} stores a model config "
            "(how to rebuild the network) with the weights, and this network has none"]


class SafetensorsExporter(Exporter):
    """Write a model folder: ``model.safetensors`` + ``config.json`` (+ ``tokenizer.json``)."""

    def unsupported(self, model: nn.Module) -> list[str]:
        return needs_model_config(model, "a model folder")

    def export(self, model: nn.Module, path: str | Path, metadata: dict[str, Any] | None = None) -> list[Path]:
        metadata = dict(metadata or {})
        tokenizer = metadata.pop("tokenizer", None)
        folder = save_model_folder(model, path, metadata=metadata, tokenizer=tokenizer)
        names = [WEIGHTS_FILE, CONFIG_FILE] + ([TOKENIZER_FILE] if tokenizer is not None else [])
        return [folder / name for name in names]
