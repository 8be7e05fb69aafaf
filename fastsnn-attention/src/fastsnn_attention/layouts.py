"""Per-layer attention layouts (kind ``layout``): ``factory(n_layers, **params)`` → one reference per layer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fastsnn.config.refs import AttentionRef


class HybridAltParams(BaseModel):
    """Parameters of :func:`hybrid_alt`."""

    model_config = ConfigDict(extra="forbid")
    linear: AttentionRef = Field("linear", description="the global, constant-state kernel (e.g. linear, gla)")
    swa: AttentionRef = Field("swa", description="the local kernel (e.g. {name = 'swa', window = 512})")
    first: Literal["linear", "swa"] = Field("linear", description="which kernel layer 0 uses")


def hybrid_alt(n_layers: int, linear: Any = "linear", swa: Any = "swa", first: str = "linear") -> list[Any]:
    """Linear and sliding-window layers alternating (SpikingBrain-7B's inter-layer hybrid)."""
    order = [linear, swa] if first == "linear" else [swa, linear]
    return [order[i % 2] for i in range(n_layers)]
