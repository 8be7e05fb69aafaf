"""Per-layer attention layouts (kind ``layout``): ``factory(n_layers=..., params=...)`` → one reference per layer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from fastsnn import Params
from fastsnn.config.refs import AttentionRef


class HybridAltParams(Params):
    """Parameters of :func:`hybrid_alt`."""

    linear: AttentionRef = Field("linear", validate_default=True, description="the global, constant-state kernel (e.g. linear, gla)")
    swa: AttentionRef = Field("swa", validate_default=True, description="the local kernel (e.g. {name = 'swa', window = 512})")
    first: Literal["linear", "swa"] = Field("linear", description="which kernel layer 0 uses")


def hybrid_alt(n_layers: int, params: HybridAltParams | None = None) -> list[Any]:
    """Linear and sliding-window layers alternating (SpikingBrain-7B's inter-layer hybrid).

    :param n_layers: layers in the model (supplied by the model builder).
    :param params: validated :class:`HybridAltParams` (the registry passes them; ``None``: defaults).
    :returns: ``n_layers`` attention references (names or ``AttentionRef``), layer 0 first.
    """
    p = HybridAltParams() if params is None else params
    order = [p.linear, p.swa] if p.first == "linear" else [p.swa, p.linear]
    return [order[i % 2] for i in range(n_layers)]
