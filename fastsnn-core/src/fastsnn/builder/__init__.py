"""The seed API's builder: :class:`SNNConfig` and :func:`build_model_from_config`."""

from fastsnn.builder.config import SNNConfig
from fastsnn.builder.model_from_config import build_model_from_config

__all__ = ["SNNConfig", "build_model_from_config"]
