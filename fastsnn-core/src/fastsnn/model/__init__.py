"""The spiking language model."""

from fastsnn.model.cache import ModelCache
from fastsnn.model.lm import Block, SpikingLM, build_model, from_pretrained

__all__ = ["Block", "ModelCache", "SpikingLM", "build_model", "from_pretrained"]
