"""``build_model_from_config``: the seed API's model builder (core's :func:`fastsnn.model.build_model`)."""

from __future__ import annotations

from typing import Any

from fastsnn.builder.config import SNNConfig
from fastsnn.config.model import ModelConfig
from fastsnn.errors import FastSNNError
from fastsnn.model.lm import SpikingLM, build_model


def build_model_from_config(cfg: SNNConfig | ModelConfig | dict[str, Any]) -> SpikingLM:
    """Build a :class:`~fastsnn.model.SpikingLM` from an :class:`SNNConfig`, a ModelConfig, or a
    dict of either (a dict with ``attn_kind`` is read as an SNNConfig)."""
    if isinstance(cfg, dict):
        cfg = SNNConfig.model_validate(cfg) if "attn_kind" in cfg else ModelConfig.model_validate(cfg)
    if not isinstance(cfg, ModelConfig):
        raise FastSNNError(f"build_model_from_config needs an SNNConfig, ModelConfig or dict, got {type(cfg).__name__}")
    return build_model(cfg)
