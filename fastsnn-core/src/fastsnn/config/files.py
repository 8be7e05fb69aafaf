"""Reading config files (TOML, JSON, YAML) with errors that name the file and the line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fastsnn.errors import ConfigError
from fastsnn.registry import format_validation_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T", bound=BaseModel)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a ``.toml``, ``.json``, ``.yaml`` or ``.yml`` file into a dict."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if path.is_dir():
        raise ConfigError(f"config path is a directory, not a file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {err.start} is {err.object[err.start:err.start + 1]!r}); "
            "save the config as UTF-8"
        ) from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read: {err.strerror}") from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: invalid TOML: {err}") from None
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{err.lineno}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path}: reading YAML needs PyYAML: pip install pyyaml (or use TOML/JSON)") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{path}:{mark.line + 1}: invalid YAML at line {mark.line + 1}" if mark else f"{path}: invalid YAML"
            raise ConfigError(f"{where}: {getattr(err, 'problem', err)}") from None
    else:
        raise ConfigError(f"{path}: unknown config format {suffix!r}; use .toml, .json, .yaml or .yml")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table/object, got {type(data).__name__}")
    return data


def load_config(path: str | Path, cls: type[T]) -> T:
    """Read ``path`` and validate it as ``cls``; errors list every problem with its path."""
    data = read_config_file(path)
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: {err.error_count()} error(s) in config:\n{format_validation_error(err)}") from None
