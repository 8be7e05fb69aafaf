"""Training checkpoints: step folders, the ``latest`` pointer, and resolving a path to a step.

A checkpoint directory (a run's ``checkpoints`` or ``TrainConfig.checkpoint_dir``) holds::

    step_00000400/      a model folder (see fastsnn.model_folder) plus the training state:
        model.safetensors, config.json, [tokenizer.json]
        trainer_state.safetensors   optimizer moments, RNG states, data-position tensors
        trainer_state.json          step, batches consumed, train config, history, ...
    latest              the name of the newest complete step folder

Each step folder is written whole into a hidden staging folder and renamed into place, then
``latest`` is replaced atomically: a run killed at any moment leaves the previous checkpoint
intact and, at worst, a hidden ``.step_*.tmp`` folder that the next writer removes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastsnn.errors import FastSNNError
from fastsnn.model_folder import model_files, read_model_folder
from fastsnn.safe_io import (
    LATEST,
    atomic_write_bytes,
    json_bytes,
    read_json,
    read_tensors,
    remove_stale_staging,
    tensors_to_bytes,
    write_directory_atomically,
)

STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"
STATE_FORMAT = "fastsnn-train-state"
STATE_VERSION = 1


def step_folder_name(step: int) -> str:
    return f"step_{step:08d}"


def write_checkpoint(root: str | Path, step: int, model: nn.Module, state_tensors: dict[str, torch.Tensor],
                     state_meta: dict[str, Any], tokenizer: dict[str, Any] | None = None) -> Path:
    """Write ``root/step_<N>/`` (model folder + training state) and point ``root/latest`` at it.

    Stale staging folders of a killed earlier writer are removed first. Returns the step folder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(root)
    files = model_files(model, metadata={"step": step}, tokenizer=tokenizer)
    files[STATE_TENSORS] = tensors_to_bytes(state_tensors)
    files[STATE_JSON] = json_bytes({"format": STATE_FORMAT, "version": STATE_VERSION, "step": step, **state_meta})
    step_dir = write_directory_atomically(root / step_folder_name(step), files)
    atomic_write_bytes(root / LATEST, step_dir.name.encode())
    return step_dir


def resolve_checkpoint(path: str | Path) -> Path:
    """A step folder from a step folder or a checkpoint directory (via its ``latest`` file).

    :raises FastSNNError: nothing there, or neither a step folder nor a directory with ``latest``.
    """
    path = Path(path)
    if not path.exists():
        raise FastSNNError(f"checkpoint {path} not found")
    if (path / STATE_JSON).exists():
        return path
    latest = path / LATEST
    if latest.is_file():
        step_dir = path / latest.read_text(encoding="utf-8").strip()
        if not (step_dir / STATE_JSON).exists():
            raise FastSNNError(f"{latest} points to {step_dir}, which is not a complete checkpoint")
        return step_dir
    raise FastSNNError(
        f"{path} is not a training checkpoint: it has neither {STATE_JSON} nor a '{LATEST}' file naming one"
    )


def read_checkpoint(path: str | Path) -> tuple[Path, dict[str, Any], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(step_dir, state_meta, weights, state_tensors)`` of the checkpoint at ``path``, verified.

    :raises FastSNNError: a missing, corrupt or foreign file (naming it), a weights checksum
        mismatch, or an unsupported state version.
    """
    step_dir = resolve_checkpoint(path)
    meta = read_json(step_dir / STATE_JSON)
    if not isinstance(meta, dict) or meta.get("format") != STATE_FORMAT:
        raise FastSNNError(f"{step_dir / STATE_JSON}: not a FastSNN training state file")
    if meta.get("version") != STATE_VERSION:
        raise FastSNNError(f"{step_dir / STATE_JSON}: state version {meta.get('version')} is not supported "
                           f"(this FastSNN writes version {STATE_VERSION})")
    _, weights, _ = read_model_folder(step_dir)
    state = read_tensors(step_dir / STATE_TENSORS)
    return step_dir, meta, weights, state
