"""The model folder: FastSNN's one on-disk format for a model.

A model folder holds::

    model.safetensors   the weights (tied tensors stored once)
    config.json         {"format": "fastsnn-model", "format_version": 1, "fastsnn_version": ...,
                         "model": <ModelConfig>, "components": [{"kind", "name", "distribution",
                         "version"}, ...], "weights_sha256": ..., plus any extra metadata}
    tokenizer.json      optional: the tokenizer that maps text to the model's token ids

It is written by exactly one function, :func:`model_files` (the trainer's checkpoints, the
exporter, ``SpikingLM.save_pretrained`` and the CLI all go through it) and read by
:func:`read_model_folder`. Writing refuses non-finite weights (naming the tensor); reading
verifies the weights' SHA-256 and names the package to install for any component the loading
environment lacks.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastsnn.errors import FastSNNError
from fastsnn.plugins import get_registry
from fastsnn.safe_io import (
    check_writable_destination,
    dedupe_shared,
    follow_latest,
    json_bytes,
    read_json,
    write_directory_atomically,
)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
FORMAT = "fastsnn-model"
FORMAT_VERSION = 1


def fastsnn_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fastsnn-core")
    except PackageNotFoundError:  # pragma: no cover - source tree without install
        return "0+unknown"


def component_records(config: Any) -> list[dict[str, str]]:
    """Every registered component a model config names, with the distribution that provides it.

    ``config`` is a :class:`~fastsnn.config.ModelConfig`; references are found by walking its fields.
    """
    found: dict[tuple[str, str], dict[str, str]] = {}

    def visit(value: Any) -> None:
        if getattr(type(value), "__fastsnn_ref__", False):
            spec = value.spec()
            found.setdefault((spec.kind, spec.name), {"kind": spec.kind, "name": spec.name,
                                                       "distribution": spec.distribution, "version": spec.version})
            for param in value.params.values():
                visit(param)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for name in type(config).model_fields:
        visit(getattr(config, name))
    if hasattr(config, "layer_attention"):
        visit(config.layer_attention())
    return sorted(found.values(), key=lambda r: (r["kind"], r["name"]))


def check_finite_weights(state: dict[str, torch.Tensor]) -> None:
    """:raises FastSNNError: naming every tensor holding NaN or ±inf (a diverged model is not saved)."""
    bad = [name for name, t in state.items() if t.dtype.is_floating_point and not bool(torch.isfinite(t).all())]
    if bad:
        raise FastSNNError(
            f"refusing to save non-finite weights: {', '.join(bad[:8])}{' …' if len(bad) > 8 else ''} "
            "contain NaN or inf (training diverged); save an earlier checkpoint instead"
        )


def model_files(model: nn.Module, *, metadata: dict[str, Any] | None = None,
                tokenizer: dict[str, Any] | None = None) -> dict[str, bytes]:
    """The files of a model folder for ``model`` (name → bytes), ready to be written atomically.

    :param model: a module with a ``config`` (a ModelConfig) — e.g. a SpikingLM; other modules are
        saved with ``"model": null``. A model quantised by :func:`fastsnn.quantize.quantize_model`
        has its ``quantization`` record stored too (its int8 tensors are in the weights file).
    :param metadata: extra JSON-ready keys for ``config.json`` (e.g. ``{"step": 400}``).
    :param tokenizer: the tokenizer's JSON description, written as ``tokenizer.json``.
    :raises FastSNNError: a weight holds NaN/inf.
    """
    from safetensors.torch import save

    state = {k: v.detach().contiguous().cpu() for k, v in dedupe_shared(model.state_dict()).items()}
    check_finite_weights(state)
    weights = save(state, metadata={"format": FORMAT})
    config = getattr(model, "config", None)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastsnn_version": fastsnn_version(),
        "model": config.model_dump(mode="json") if hasattr(config, "model_dump") else None,
        "components": component_records(config) if hasattr(config, "model_dump") else [],
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        **({"quantization": model.quantization} if getattr(model, "quantization", None) else {}),
        **(metadata or {}),
    }
    files = {WEIGHTS_FILE: weights, CONFIG_FILE: json_bytes(meta)}
    if tokenizer is not None:
        files[TOKENIZER_FILE] = json_bytes(tokenizer)
    return files


def save_model_folder(model: nn.Module, directory: str | Path, *, metadata: dict[str, Any] | None = None,
                      tokenizer: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a model folder at ``directory`` (all files at once; an existing folder is
    replaced only after the new one is complete). Returns the folder.

    :raises FastSNNError: non-finite weights, or a destination that cannot be written.
    """
    directory = check_writable_destination(directory, "model folder")
    return write_directory_atomically(directory, model_files(model, metadata=metadata, tokenizer=tokenizer))


def resolve_model_folder(path: str | Path) -> Path:
    """The model folder at ``path``: the folder itself, or the step a run's ``latest`` names.

    :raises FastSNNError: nothing there, or no ``model.safetensors`` in it.
    """
    path = Path(path)
    if not path.exists():
        raise FastSNNError(f"{path} not found")
    folder = follow_latest(path)
    if not (folder / WEIGHTS_FILE).is_file():
        raise FastSNNError(
            f"{path} is not a FastSNN model folder: {WEIGHTS_FILE} is missing"
            + (" (nor does it have a 'latest' file naming a checkpoint)" if folder == path else f" in {folder}")
        )
    return folder


def read_model_folder(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], Path]:
    """Read and verify a model folder: ``(metadata, tensors, folder)``.

    :raises FastSNNError: a missing/corrupt file, a weights checksum mismatch (the file was changed
        or damaged), or a format version newer than this FastSNN reads.
    """
    folder = resolve_model_folder(path)
    meta = read_json(folder / CONFIG_FILE)
    check_model_meta(meta, folder / CONFIG_FILE)
    weights_path = folder / WEIGHTS_FILE
    return meta, verified_tensors(meta, weights_path.read_bytes(), str(weights_path)), folder


def check_model_meta(meta: Any, where: str | Path) -> None:
    """Check a parsed ``config.json``: a JSON object of a format version this FastSNN reads.

    :raises FastSNNError: naming ``where``.
    """
    if not isinstance(meta, dict):
        raise FastSNNError(f"{where}: expected a JSON object; the file is corrupt")
    version = meta.get("format_version", 1)
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise FastSNNError(
            f"{where}: model folder format {version} is newer than this FastSNN reads ({FORMAT_VERSION}); "
            "upgrade fastsnn-core"
        )


def verified_tensors(meta: dict[str, Any], data: bytes, where: str) -> dict[str, torch.Tensor]:
    """The tensors of a weights file's bytes, after checking them against ``meta["weights_sha256"]``.

    :raises FastSNNError: a checksum mismatch (the file was changed or damaged) or unreadable bytes.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    expected = meta.get("weights_sha256")
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise FastSNNError(
            f"{where}: the weights do not match the checksum in {CONFIG_FILE} "
            "(the file was modified or damaged); restore it from a backup or re-export the model"
        )
    try:
        return load(data)
    except (SafetensorError, ValueError, OSError) as err:
        raise FastSNNError(f"{where}: not a readable safetensors file ({err}); the file is corrupt") from None


def missing_component_hint(meta: dict[str, Any]) -> str:
    """What to install for components the folder's metadata names but this environment lacks."""
    registry = get_registry()
    needed = []
    for record in meta.get("components") or []:
        try:
            registry.get(record["kind"], record["name"])
        except FastSNNError:
            needed.append(f"{record['kind']} {record['name']!r} (from {record.get('distribution', '?')})")
    if not needed:
        return ""
    dists = sorted({r.split("(from ")[1].rstrip(")") for r in needed})
    return f"; the model needs {', '.join(needed)}: pip install {' '.join(dists)}"


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Copy ``state`` into ``model``; any missing/extra name or shape/dtype mismatch is an error."""
    expected = dedupe_shared(model.state_dict())
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


__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "TOKENIZER_FILE",
    "WEIGHTS_FILE",
    "check_finite_weights",
    "check_model_meta",
    "component_records",
    "find_tokenizer",
    "load_into",
    "missing_component_hint",
    "model_files",
    "read_model_folder",
    "resolve_model_folder",
    "save_model_folder",
    "verified_tensors",
]


def find_tokenizer(path: str | Path) -> Any:
    """The tokenizer stored with a model: ``tokenizer.json`` in the model folder (or the run folder
    above a checkpoint step).

    :raises FastSNNError: none found (a model trained on token ids has no tokenizer).
    """
    from fastsnn.data.tokenizer import tokenizer_from_dict

    path = Path(path)
    for folder in (path, *path.parents[:2]):
        candidate = folder / TOKENIZER_FILE
        if candidate.is_file():
            return tokenizer_from_dict(read_json(candidate))
    raise FastSNNError(f"no {TOKENIZER_FILE} found in {path} or its parents; pass token ids instead of text")
