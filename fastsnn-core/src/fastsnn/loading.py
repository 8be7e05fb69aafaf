"""``fastsnn.load``: one call for every saved form of a model, and ``inspect`` for what a file holds.

The forms are a ``.snn`` file (:mod:`fastsnn.snn_file`), a model folder and a run folder (its
latest checkpoint) (:mod:`fastsnn.model_folder`). All of them carry the same ``config.json`` and
weights, so they load through the same path and re-apply any recorded quantisation.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import torch

from fastsnn.errors import FastSNNError
from fastsnn.model_folder import (
    CONFIG_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    check_model_meta,
    find_tokenizer,
    read_model_folder,
    resolve_model_folder,
)
from fastsnn.safe_io import read_json
from fastsnn.snn_file import MANIFEST_FILE, read_manifest, read_snn


def load(path: str | Path) -> Any:
    """Load the :class:`~fastsnn.model.SpikingLM` saved at ``path``, in eval mode.

    :param path: a ``.snn`` file, a model folder, or a run folder (its ``latest`` checkpoint).
    :raises FastSNNError: nothing there, a damaged/tampered/foreign/newer file, or a model whose
        components this environment lacks (naming the package to install).
    """
    return load_with_tokenizer(path)[0]


def load_with_tokenizer(path: str | Path) -> tuple[Any, Any]:
    """``(model, tokenizer)`` saved at ``path`` (see :func:`load`); the tokenizer is a byte, char
    or BPE tokenizer (:func:`fastsnn.data.tokenizer.tokenizer_from_dict`), or None when the model
    was saved without one."""
    from fastsnn.data.tokenizer import tokenizer_from_dict

    path = Path(path)
    if not path.exists():
        raise FastSNNError(f"{path} not found")
    if path.is_dir():
        meta, tensors, folder = read_model_folder(path)
        model = build_saved_model(meta, tensors, f"{folder}/{CONFIG_FILE}", f"{folder}/{WEIGHTS_FILE}")
        try:
            tokenizer = find_tokenizer(folder)
        except FastSNNError:
            tokenizer = None
        return model, tokenizer
    contents = read_snn(path)
    model = build_saved_model(contents.meta, contents.tensors, f"{path}:{CONFIG_FILE}", f"{path}:{WEIGHTS_FILE}")
    tokenizer = tokenizer_from_dict(contents.tokenizer) if contents.tokenizer is not None else None
    return model, tokenizer


def build_saved_model(meta: dict[str, Any], tensors: dict[str, torch.Tensor], config_source: str,
                      weights_source: str) -> Any:
    """The model ``meta`` (a ``config.json``) describes with ``tensors`` loaded, in eval mode.

    Weights saved in one low-precision float dtype (a model cast with ``model.to(torch.bfloat16)``
    before saving) load into a model of that dtype; anything else loads as saved.
    """
    from fastsnn.model.lm import model_from_files

    floats = {t.dtype for t in tensors.values() if t.is_floating_point()}
    dtype = next(iter(floats)) if len(floats) == 1 else None
    if dtype in (torch.bfloat16, torch.float16, torch.float64):
        tensors = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
        return model_from_files(meta, tensors, config_source, weights_source).to(dtype)
    return model_from_files(meta, tensors, config_source, weights_source)


# -- inspect ------------------------------------------------------------------------------------------
def safetensors_summary(header_source: Any, where: str) -> dict[str, Any]:
    """Tensor count, values and bytes per dtype from a safetensors header (the tensors are not read).

    :param header_source: a binary file object positioned at the start of the safetensors data.
    """
    raw = header_source.read(8)
    if len(raw) != 8:
        raise FastSNNError(f"{where}: too short for a safetensors file; it is corrupt")
    (length,) = struct.unpack("<Q", raw)
    if length > 100 << 20:
        raise FastSNNError(f"{where}: safetensors header of {length:,} bytes; the file is corrupt")
    try:
        header = json.loads(header_source.read(length))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FastSNNError(f"{where}: unreadable safetensors header; the file is corrupt") from None
    by_dtype: dict[str, dict[str, int]] = {}
    tensors = 0
    for name, entry in header.items():
        if name == "__metadata__" or not isinstance(entry, dict):
            continue
        values = 1
        for dim in entry.get("shape", []):
            values *= int(dim)
        start, stop = entry.get("data_offsets", [0, 0])
        slot = by_dtype.setdefault(str(entry.get("dtype", "?")), {"tensors": 0, "values": 0, "bytes": 0})
        slot["tensors"] += 1
        slot["values"] += values
        slot["bytes"] += int(stop) - int(start)
        tensors += 1
    return {"tensors": tensors, "by_dtype": by_dtype}


def _components(meta: dict[str, Any]) -> list[dict[str, Any]]:
    from fastsnn.plugins import get_registry

    registry = get_registry()
    rows = []
    for record in meta.get("components") or []:
        try:
            registry.get(record["kind"], record["name"])
            installed = True
        except (FastSNNError, KeyError, TypeError):
            installed = False
        rows.append({**record, "installed": installed})
    return rows


def _needs(components: list[dict[str, Any]]) -> dict[str, Any]:
    dists = sorted({c.get("distribution") for c in components if c.get("distribution")} | {"fastsnn-core"})
    missing = sorted({c.get("distribution", "?") for c in components if not c["installed"]})
    return {"distributions": dists, "missing": missing,
            "install": f"pip install {' '.join(d for d in missing if not d.startswith('('))}" if missing else None}


def inspect_file(path: str | Path) -> dict[str, Any]:
    """What a ``.snn`` file or model folder holds, as a JSON-ready dict: format, versions, members
    with sizes and checksum status, the model config, tensors per dtype, quantisation, spike
    coding, components (and whether this environment has them), and what to install to load it.

    Checksums are verified (streamed), the tensors are not loaded.

    :raises FastSNNError: the file is not a ``.snn`` file or model folder, or is damaged.
    """
    path = Path(path)
    if not path.exists():
        raise FastSNNError(f"{path} not found")
    if path.is_dir():
        return _inspect_folder(path)
    manifest, archive = read_manifest(path)
    with archive:
        members = []
        for info in archive.infolist():
            record = manifest["members"].get(info.filename, {}) if info.filename != MANIFEST_FILE else {}
            digest = hashlib.sha256()
            size = 0
            with archive.open(info) as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
            ok = info.filename == MANIFEST_FILE or (size == record.get("size") and digest.hexdigest() == record.get("sha256"))
            members.append({"name": info.filename, "bytes": size, "stored_bytes": info.compress_size,
                            "sha256": digest.hexdigest(), "verified": ok})
        meta = json.loads(archive.read(CONFIG_FILE).decode("utf-8"))
        check_model_meta(meta, f"{path}:{CONFIG_FILE}")
        with archive.open(WEIGHTS_FILE) as fh:
            weights = safetensors_summary(fh, f"{path}:{WEIGHTS_FILE}")
    components = _components(meta)
    return {
        "path": str(path),
        "kind": "snn",
        "bytes": path.stat().st_size,
        "format": manifest["format"],
        "format_version": manifest["format_version"],
        "written_by": manifest.get("fastsnn_version"),
        "members": members,
        "model": meta.get("model"),
        "weights": weights,
        "quantization": manifest.get("quantization"),
        "spike_coding": manifest.get("spike_coding"),
        "components": components,
        "needs": _needs(components),
        "has_tokenizer": any(m["name"] == TOKENIZER_FILE for m in members),
        "all_verified": all(m["verified"] for m in members),
    }


def _inspect_folder(path: Path) -> dict[str, Any]:
    folder = resolve_model_folder(path)
    meta = read_json(folder / CONFIG_FILE)
    check_model_meta(meta, folder / CONFIG_FILE)
    members = []
    for name in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE):
        file = folder / name
        if file.is_file():
            digest = hashlib.sha256(file.read_bytes()).hexdigest()
            verified = digest == meta.get("weights_sha256") if name == WEIGHTS_FILE else None
            members.append({"name": name, "bytes": file.stat().st_size, "sha256": digest, "verified": verified})
    with open(folder / WEIGHTS_FILE, "rb") as fh:
        weights = safetensors_summary(fh, str(folder / WEIGHTS_FILE))
    components = _components(meta)
    return {
        "path": str(folder),
        "kind": "folder",
        "bytes": sum(m["bytes"] for m in members),
        "format": meta.get("format"),
        "format_version": meta.get("format_version"),
        "written_by": meta.get("fastsnn_version"),
        "members": members,
        "model": meta.get("model"),
        "weights": weights,
        "quantization": meta.get("quantization"),
        "spike_coding": None,
        "components": components,
        "needs": _needs(components),
        "has_tokenizer": (folder / TOKENIZER_FILE).is_file(),
        "all_verified": all(m["verified"] is not False for m in members),
    }


__all__ = ["build_saved_model", "inspect_file", "load", "load_with_tokenizer", "safetensors_summary"]
