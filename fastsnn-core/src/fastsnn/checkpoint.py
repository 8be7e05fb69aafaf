"""Safe model files: safetensors weights + JSON metadata, written atomically, validated on load."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastsnn.errors import FastSNNError

WEIGHTS_FILE = "model.safetensors"
META_FILE = "config.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model: nn.Module, directory: str | Path, metadata: dict[str, Any]) -> list[Path]:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (atomically, each file)."""
    from safetensors.torch import save

    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in _dedupe_shared(model.state_dict()).items()}
    weights = directory / WEIGHTS_FILE
    meta = directory / META_FILE
    atomic_write_bytes(weights, save(state, metadata={"format": "fastsnn"}))
    atomic_write_bytes(meta, json.dumps(metadata, indent=2, default=str).encode())
    return [weights, meta]


def load_state(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read the weights and metadata written by :func:`save_model`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    weights, meta = directory / WEIGHTS_FILE, directory / META_FILE
    for f in (weights, meta):
        if not f.exists():
            raise FastSNNError(f"{f} not found: a FastSNN model folder holds {WEIGHTS_FILE} and {META_FILE}")
    try:
        metadata = json.loads(meta.read_text())
    except json.JSONDecodeError as err:
        raise FastSNNError(f"{meta}:{err.lineno}: invalid JSON: {err.msg}") from None
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise FastSNNError(f"{weights}: not a readable safetensors file: {err}") from None
    return state, metadata


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Copy ``state`` into ``model``; any missing/extra name or shape/dtype mismatch is an error."""
    expected = _dedupe_shared(model.state_dict())
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing tensors: {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}")
    if extra:
        problems.append(f"unexpected tensors: {', '.join(extra[:8])}{' …' if len(extra) > 8 else ''}")
    for name in sorted(set(expected) & set(state)):
        want, got = expected[name], state[name]
        if want.shape != got.shape:
            problems.append(f"{name}: shape {tuple(got.shape)} in file, model expects {tuple(want.shape)}")
        elif want.dtype != got.dtype:
            problems.append(f"{name}: dtype {got.dtype} in file, model expects {want.dtype}")
    if problems:
        raise FastSNNError(f"{source} does not match the model:\n  " + "\n  ".join(problems))
    model.load_state_dict(state, strict=False)


def _dedupe_shared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop tensors that share storage with an earlier one (tied embeddings)."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for name, tensor in state.items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset()) if tensor.numel() else (id(tensor), 0)
        if key in seen:
            continue
        seen.add(key)
        out[name] = tensor
    return out
