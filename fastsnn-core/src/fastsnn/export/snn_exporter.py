"""The ``.snn`` exporter (``snn``): one versioned, checksummed file (see :mod:`fastsnn.snn_file`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from torch import nn

from fastsnn.export.base import Exporter
from fastsnn.export.safetensors_exporter import needs_model_config
from fastsnn.params import Params
from fastsnn.snn_file import write_snn


class SnnExporter(Exporter):
    """Write a ``.snn`` file: manifest + config + weights (+ tokenizer) in one zip."""

    class Params(Params):
        coding: str | None = Field(None, description="a registered spike coding recorded for event-driven inference")

    def unsupported(self, model: nn.Module) -> list[str]:
        return needs_model_config(model, "a .snn file")

    def export(self, model: nn.Module, path: str | Path, metadata: dict[str, Any] | None = None) -> list[Path]:
        metadata = dict(metadata or {})
        tokenizer = metadata.pop("tokenizer", None)
        return [write_snn(model, path, metadata=metadata, tokenizer=tokenizer, coding=self.params.coding)]
