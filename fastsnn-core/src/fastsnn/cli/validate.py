"""``fastsnn validate CONFIG``: check a config file and print every error with its path."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from fastsnn.config import ModelConfig, RunConfig, read_config_file
from fastsnn.errors import ConfigError
from fastsnn.registry import format_validation_error

RUN_TABLES = {"model", "train", "convert", "export"}


def validate_file(path: Path) -> RunConfig | ModelConfig:
    """Validate a file as a :class:`RunConfig` (if it has pipeline tables) or a :class:`ModelConfig`."""
    data = read_config_file(path)
    cls = RunConfig if RUN_TABLES & set(data) else ModelConfig
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: {err.error_count()} error(s):\n{format_validation_error(err)}") from None


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
def validate(config: Path) -> None:
    """Check CONFIG (TOML, JSON or YAML) against the registry and each component's params."""
    result = validate_file(config)
    model = result if isinstance(result, ModelConfig) else result.model
    click.echo(f"{config}: OK")
    if model is not None:
        layers = ", ".join(ref.name for ref in model.layer_attention())
        click.echo(f"  model: {model.n_layers} layers, d_model={model.d_model}, attention per layer: {layers}")
