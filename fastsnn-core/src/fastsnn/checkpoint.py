"""Safe model files: safetensors weights + JSON metadata, written atomically, validated on load."""

from __future__ import annotations

import json
import os
import shutil
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


def json_bytes(data: Any) -> bytes:
    """``data`` as indented UTF-8 JSON (what the checkpoint's JSON files hold)."""
    return json.dumps(data, indent=2, default=str).encode()


def read_json(path: str | Path) -> Any:
    """Read a JSON file; a missing or malformed file is an error naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise FastSNNError(f"{path} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise FastSNNError(f"{path}:{err.lineno}: invalid JSON: {err.msg}; the file is corrupt") from None
    except UnicodeDecodeError:
        raise FastSNNError(f"{path}: not a text file; the file is corrupt") from None


def tensors_to_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """Serialise named tensors with safetensors (contiguous CPU copies; shared storage allowed)."""
    from safetensors.torch import save

    return save({k: v.detach().contiguous().cpu().clone() for k, v in tensors.items()}, metadata=metadata)


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; a missing or unreadable file is an error naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FastSNNError(f"{path} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise FastSNNError(f"{path}: not a readable safetensors file ({err}); the file is corrupt") from None


def write_directory_atomically(directory: str | Path, files: dict[str, bytes]) -> Path:
    """Create ``directory`` holding ``files`` (name → bytes) all at once.

    The files are written and fsynced into a hidden sibling folder which is then renamed into
    place, so a reader (or a run killed mid-write) sees either the old folder or the whole new
    one, never a half-written mix. An existing ``directory`` is replaced.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp"))
    try:
        for name, data in files.items():
            with open(staging / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if directory.exists():
            retired = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".old"))
            os.replace(directory, retired / directory.name)
            os.replace(staging, directory)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, directory)
        _fsync_dir(directory.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_model(model: nn.Module, directory: str | Path, metadata: dict[str, Any]) -> list[Path]:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (atomically, each file)."""
    from safetensors.torch import save

    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in _dedupe_shared(model.state_dict()).items()}
    weights = directory / WEIGHTS_FILE
    meta = directory / META_FILE
    atomic_write_bytes(weights, save(state, metadata={"format": "fastsnn"}))
    atomic_write_bytes(meta, json_bytes(metadata))
    return [weights, meta]


def load_state(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read the weights and metadata written by :func:`save_model` (errors name the file)."""
    directory = Path(directory)
    return read_tensors(directory / WEIGHTS_FILE), read_json(directory / META_FILE)


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
