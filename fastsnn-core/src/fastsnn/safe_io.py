"""Safe file I/O: atomic writes that honour the umask, and reads whose errors name the file.

Nothing here knows what a model or a checkpoint is (see :mod:`fastsnn.model_folder` and
:mod:`fastsnn.train.checkpoints`). Tensors go through safetensors and metadata through JSON —
never pickle.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from fastsnn.errors import FastSNNError

#: a file in a folder naming its newest member (``runs/x/latest`` → ``step_00000400``)
LATEST = "latest"
STAGING_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``.

    The file gets the permissions an ordinary ``open()`` would give (``0o666`` less the umask),
    not the owner-only mode of a temp file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=STAGING_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
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
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=STAGING_SUFFIX))
    try:
        os.chmod(staging, 0o777 & ~current_umask())
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


def remove_stale_staging(directory: str | Path) -> list[Path]:
    """Delete hidden ``.<name>.*.tmp`` staging files and folders that a killed writer left in
    ``directory``; returns what was removed. Call it only where no other writer is active."""
    directory = Path(directory)
    removed = []
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        if entry.name.startswith(".") and (entry.name.endswith(STAGING_SUFFIX) or entry.name.endswith(".old")):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def follow_latest(path: str | Path) -> Path:
    """``path/<name in path/latest>`` if ``path`` has a ``latest`` file, else ``path``.

    :raises FastSNNError: the ``latest`` file names a folder that does not exist.
    """
    path = Path(path)
    pointer = path / LATEST
    if not pointer.is_file():
        return path
    target = path / pointer.read_text(encoding="utf-8").strip()
    if not target.is_dir():
        raise FastSNNError(f"{pointer} names {target.name}, which does not exist; the folder is damaged")
    return target


def check_writable_destination(path: str | Path, what: str = "output") -> Path:
    """Check, before any work, that ``path`` can be created or replaced.

    :raises FastSNNError: a parent of ``path`` is a regular file, or the nearest existing parent is
        not writable.
    """
    path = Path(path)
    for parent in [path, *path.parents]:
        if parent.exists():
            if parent != path and not parent.is_dir():
                raise FastSNNError(f"{what} {path}: {parent} is a file, not a folder; choose another path")
            if parent != path and not os.access(parent, os.W_OK | os.X_OK):
                raise FastSNNError(f"{what} {path}: {parent} is not writable; choose another path")
            if parent == path and not path.is_dir() and not os.access(path.parent, os.W_OK):
                raise FastSNNError(f"{what} {path}: its folder is not writable")
            break
    return path


def dedupe_shared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
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
