"""Pydantic configs whose components are named, and found at run time in the registry."""

from fastsnn.config.files import load_config, read_config_file
from fastsnn.config.model import ModelConfig
from fastsnn.config.refs import ComponentRef
from fastsnn.config.run import ConvertConfig, DataConfig, ExportConfig, RunConfig, TrainConfig

__all__ = [
    "ComponentRef",
    "ConvertConfig",
    "DataConfig",
    "ExportConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "load_config",
    "read_config_file",
]
