"""Loading a trained model back from a checkpoint or exported folder (safetensors + JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fastsnn.checkpoint import META_FILE, WEIGHTS_FILE, load_into, read_json, read_tensors
from fastsnn.config.model import ModelConfig
from fastsnn.errors import FastSNNError
from fastsnn.registry import format_validation_error

TOKENIZER_FILE = "tokenizer.json"


def model_folder(path: str | Path) -> Path:
    """The folder holding ``model.safetensors`` + ``config.json``: ``path`` itself, or the step
    folder a training checkpoint directory's ``latest`` file names."""
    path = Path(path)
    if not path.exists():
        raise FastSNNError(f"{path} not found")
    if (path / WEIGHTS_FILE).exists():
        return path
    from fastsnn.train.trainer import resolve_checkpoint

    return resolve_checkpoint(path)


def load_model(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Rebuild the :class:`~fastsnn.model.SpikingLM` saved at ``path`` and load its weights.

    Returns ``(model, metadata)``. The model config is validated against the registry (so a
    component from a package that is not installed is named), and every tensor name, shape and
    dtype is checked.
    """
    from fastsnn.model import build_model

    folder = model_folder(path)
    meta = read_json(folder / META_FILE)
    model_cfg = meta.get("model") if isinstance(meta, dict) else None
    if model_cfg is None:
        raise FastSNNError(f"{folder / META_FILE} has no 'model' config; it was not written for a FastSNN language model")
    try:
        config = ModelConfig.model_validate(model_cfg)
    except ValidationError as err:
        raise FastSNNError(f"{folder / META_FILE}: the saved model config is not valid here:\n"
                           + format_validation_error(err, "model")) from None
    model = build_model(config)
    load_into(model, read_tensors(folder / WEIGHTS_FILE), source=str(folder / WEIGHTS_FILE))
    model.eval()
    return model, meta


def find_tokenizer(path: str | Path) -> Any:
    """The :class:`~fastsnn.data.CharTokenizer` stored beside a model (its folder or a parent)."""
    from fastsnn.data.text import CharTokenizer

    path = Path(path)
    for folder in (path, *path.parents[:2]):
        candidate = folder / TOKENIZER_FILE
        if candidate.is_file():
            return CharTokenizer.from_dict(read_json(candidate))
    raise FastSNNError(f"no {TOKENIZER_FILE} found in {path} or its parents; pass token ids instead of text")
