"""The default exporter: a folder with safetensors weights and a JSON config (no pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from torch import nn

from fastsnn.checkpoint import save_model


class SafetensorsExporter:
    """Write ``model.safetensors`` + ``config.json`` into a folder."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def export(self, model: nn.Module, path: str | Path, metadata: dict[str, Any] | None = None) -> list[Path]:
        return save_model(model, path, {"format": "fastsnn", **(metadata or {})})
