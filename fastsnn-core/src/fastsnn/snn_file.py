"""The ``.snn`` file: one model in one versioned, checksummed zip (specified in docs/snn-format.md).

A ``.snn`` file is a flat zip archive of a model folder (:mod:`fastsnn.model_folder`) plus a
manifest::

    manifest.json       format, format version, FastSNN version, the components and the
                        distributions they need, spike-coding metadata, the quantisation, and
                        the size and SHA-256 of every other member
    config.json         the model folder's config (model config, components, weights checksum)
    model.safetensors   the weights (int8 weights and their scales when quantised), stored uncompressed
    tokenizer.json      optional

Reading never extracts to disk, never unpickles and never executes anything: member names must
be the names above (no paths), sizes are bounded before a byte is decompressed, and every member
must match the size and hash the manifest gives. A zip that is not a ``.snn`` file, a damaged or
truncated one, one whose content was changed, and one from a newer format version each get their
own message.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastsnn.errors import FastSNNError
from fastsnn.model_folder import (
    CONFIG_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    check_model_meta,
    fastsnn_version,
    model_files,
    verified_tensors,
)
from fastsnn.safe_io import atomic_write_bytes, check_writable_destination, json_bytes

SNN_FORMAT = "fastsnn-snn"
SNN_FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
#: every member a version-1 file may hold (a flat archive: no folders)
MEMBERS = (MANIFEST_FILE, CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE)
REQUIRED_MEMBERS = (MANIFEST_FILE, CONFIG_FILE, WEIGHTS_FILE)
#: the largest JSON member read (config, manifest, tokenizer)
MAX_JSON_BYTES = 64 << 20
#: zip entries carry this date so that one model always gives the same bytes
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class SnnContents:
    """What :func:`read_snn` found: the manifest, the model folder's ``config.json`` (``meta``), the
    tensors (name → tensor), the tokenizer description (or None) and the file's path."""

    manifest: dict[str, Any]
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    tokenizer: dict[str, Any] | None
    path: Path


# -- writing ------------------------------------------------------------------------------------------
def spike_coding_record(model: nn.Module, coding: str | None = None) -> dict[str, Any]:
    """How the model's activations are carried as spikes: each distinct neuron (class, params,
    integer count range, the modules using it) and the event coding chosen for event-driven
    inference (None: the count view, choose a coding at run time)."""
    from fastsnn.neuron import SpikingNeuron

    groups: dict[str, dict[str, Any]] = {}
    for name, module in model.named_modules():
        if not isinstance(module, SpikingNeuron):
            continue
        params = module.params.model_dump(mode="json")
        bounds = getattr(module, "count_bounds", None)
        key = json.dumps([type(module).__name__, params], sort_keys=True, default=str)
        entry = groups.setdefault(key, {"class": f"{type(module).__module__}.{type(module).__qualname__}",
                                        "params": params,
                                        "count_bounds": list(bounds) if isinstance(bounds, tuple) else None,
                                        "modules": []})
        entry["modules"].append(name)
    return {"view": "count", "value": "counts × scale (the neuron's threshold)", "neurons": list(groups.values()),
            "event_coding": coding}


def snn_members(model: nn.Module, *, metadata: dict[str, Any] | None = None,
                tokenizer: dict[str, Any] | None = None, coding: str | None = None) -> dict[str, bytes]:
    """The members of a ``.snn`` file for ``model`` (name → bytes), manifest first.

    :param model: a :class:`~fastsnn.model.SpikingLM` (quantised or not).
    :param coding: a registered spike coding recorded as the one to use for event-driven inference.
    :raises FastSNNError: ``model`` has no model config (a ``.snn`` file must say how to rebuild
        it), an unknown coding, or non-finite weights.
    """
    if not hasattr(getattr(model, "config", None), "model_dump"):
        raise FastSNNError(
            f"{type(model).__name__} has no FastSNN model config: a .snn file (like a model folder) carries "
            "SpikingLM models, whose config says how to rebuild them; export other networks with --format nir or onnx"
        )
    if coding is not None:
        from fastsnn.plugins import get_registry

        get_registry().get("coding", coding)  # unknown → did-you-mean
    files = model_files(model, metadata=metadata, tokenizer=tokenizer)
    config = json.loads(files[CONFIG_FILE])
    components = config.get("components", [])
    manifest = {
        "format": SNN_FORMAT,
        "format_version": SNN_FORMAT_VERSION,
        "fastsnn_version": fastsnn_version(),
        "components": components,
        "requires": sorted({"fastsnn-core", *(c["distribution"] for c in components
                                              if c.get("distribution") and not c["distribution"].startswith("("))}),
        "spike_coding": spike_coding_record(model, coding),
        "quantization": config.get("quantization"),
        "members": {name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                    for name, data in files.items()},
    }
    return {MANIFEST_FILE: json_bytes(manifest), **files}


def write_snn(model: nn.Module, path: str | Path, *, metadata: dict[str, Any] | None = None,
              tokenizer: dict[str, Any] | None = None, coding: str | None = None) -> Path:
    """Write ``model`` as a ``.snn`` file at ``path`` (temp file + rename: never half-written).

    :raises FastSNNError: see :func:`snn_members`, or ``path`` cannot be written (checked first).
    """
    path = check_writable_destination(path, ".snn file")
    if path.is_dir():
        raise FastSNNError(f".snn file {path}: a folder is in the way; choose a file name such as model.snn")
    members = snn_members(model, metadata=metadata, tokenizer=tokenizer, coding=coding)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            # weights are stored as they are (bounded size when read back); JSON is deflated
            info.compress_type = zipfile.ZIP_STORED if name == WEIGHTS_FILE else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    atomic_write_bytes(path, buffer.getvalue())
    return path


# -- reading ------------------------------------------------------------------------------------------
def _open_archive(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise FastSNNError(f"{path} not found")
    if path.is_dir():
        raise FastSNNError(f"{path} is a folder, not a .snn file (load a model folder with fastsnn.load)")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not zipfile.is_zipfile(path):
        if head == b"PK\x03\x04":
            raise FastSNNError(f"{path}: the .snn file is truncated or damaged (its zip directory is missing); "
                               "copy it again or re-export the model")
        raise FastSNNError(f"{path} is not a .snn file (not a zip archive); "
                           "fastsnn reads .snn files and model folders")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise FastSNNError(f"{path}: the .snn file is damaged ({err}); copy it again or re-export the model") from None


def _member_name_problem(name: str) -> str | None:
    if not name or name.startswith(("/", "\\")) or "/" in name or "\\" in name or ".." in name or ":" in name:
        return "a path (a .snn file holds plain file names only)"
    if not name.isprintable() or not name.isascii():
        return "a name with unprintable or non-ASCII characters"
    return None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, path: Path) -> bytes:
    """The bytes of one member, never more than ``limit`` of them decompressed."""
    if info.flag_bits & 0x1:
        raise FastSNNError(f"{path}: member {info.filename} is encrypted; a .snn file is never encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise FastSNNError(f"{path}: member {info.filename} uses an unsupported compression ({info.compress_type})")
    if info.file_size > limit:
        raise FastSNNError(f"{path}: member {info.filename} claims {info.file_size:,} bytes, more than the "
                           f"{limit:,} allowed; the file is damaged or not a .snn file")
    try:
        with archive.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise FastSNNError(f"{path}: member {info.filename} is damaged ({err}); copy the file again or "
                           "re-export the model") from None
    if len(data) > limit:
        raise FastSNNError(f"{path}: member {info.filename} is larger than the {limit:,} bytes allowed")
    return data


def _parse_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise FastSNNError(f"{where}: not UTF-8 text; the file is corrupt") from None
    except json.JSONDecodeError as err:
        raise FastSNNError(f"{where}:{err.lineno}: invalid JSON: {err.msg}; the file is corrupt") from None


def read_manifest(path: str | Path) -> tuple[dict[str, Any], zipfile.ZipFile]:
    """Open a ``.snn`` file and check its manifest (format and version) and member names.

    Returns the manifest and the open archive (the caller closes it).

    :raises FastSNNError: not a zip / truncated / a foreign zip / a newer format version / a member
        name that is a path, a duplicate or not part of the format.
    """
    path = Path(path)
    archive = _open_archive(path)
    try:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if MANIFEST_FILE not in names:
            raise FastSNNError(f"{path} is a zip archive but not a .snn file (it has no {MANIFEST_FILE}); "
                               "fastsnn reads .snn files written by `fastsnn export --format snn`")
        manifest = _parse_json(_read_member(archive, archive.getinfo(MANIFEST_FILE), MAX_JSON_BYTES, path),
                               f"{path}:{MANIFEST_FILE}")
        if not isinstance(manifest, dict) or manifest.get("format") != SNN_FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
            raise FastSNNError(f"{path} is a zip archive but not a .snn file: its {MANIFEST_FILE} says format "
                               f"{found!r}, not {SNN_FORMAT!r}")
        version = manifest.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise FastSNNError(f"{path}:{MANIFEST_FILE}: format_version must be a positive integer, got {version!r}; "
                               "the file is damaged")
        if version > SNN_FORMAT_VERSION:
            raise FastSNNError(
                f"{path} is a .snn file of format version {version}, written by FastSNN "
                f"{manifest.get('fastsnn_version', '?')}; this FastSNN ({fastsnn_version()}) reads format version "
                f"{SNN_FORMAT_VERSION}: upgrade fastsnn-core (pip install -U fastsnn-core)"
            )
        if len(set(names)) != len(names):
            duplicate = sorted({n for n in names if names.count(n) > 1})
            raise FastSNNError(f"{path}: member {duplicate[0]} appears more than once; the file was tampered with")
        for name in names:
            problem = _member_name_problem(name)
            if problem:
                raise FastSNNError(f"{path}: member {name!r} is {problem}; the file was tampered with — not reading it")
            if name not in MEMBERS:
                raise FastSNNError(f"{path}: unexpected member {name!r} (a format-{SNN_FORMAT_VERSION} .snn file holds "
                                   f"only {', '.join(MEMBERS)}); the file was tampered with")
        missing = [n for n in REQUIRED_MEMBERS if n not in names]
        if missing:
            raise FastSNNError(f"{path}: member {missing[0]} is missing; the file is damaged")
        listed = manifest.get("members")
        if not isinstance(listed, dict):
            raise FastSNNError(f"{path}:{MANIFEST_FILE}: 'members' must map names to sizes and hashes; the file is damaged")
        unlisted = [n for n in names if n != MANIFEST_FILE and n not in listed]
        absent = [n for n in listed if n not in names]
        if unlisted:
            raise FastSNNError(f"{path}: member {unlisted[0]} is not in the manifest; the file was tampered with")
        if absent:
            raise FastSNNError(f"{path}: the manifest lists {absent[0]}, which the file lacks; the file is damaged")
    except BaseException:
        archive.close()
        raise
    return manifest, archive


def read_snn(path: str | Path) -> SnnContents:
    """Read and verify a ``.snn`` file (see the module docstring for every check).

    :raises FastSNNError: naming the file and what is wrong with it.
    """
    path = Path(path)
    manifest, archive = read_manifest(path)
    with archive:
        data = {}
        archive_size = path.stat().st_size
        for name, record in manifest["members"].items():
            info = archive.getinfo(name)
            limit = archive_size if name == WEIGHTS_FILE else MAX_JSON_BYTES
            blob = _read_member(archive, info, limit, path)
            if not isinstance(record, dict) or len(blob) != record.get("size") or \
                    hashlib.sha256(blob).hexdigest() != record.get("sha256"):
                raise FastSNNError(f"{path}: member {name} does not match the size and SHA-256 in the manifest "
                                   "(the file was modified or damaged); restore it or re-export the model")
            data[name] = blob
    meta = _parse_json(data[CONFIG_FILE], f"{path}:{CONFIG_FILE}")
    check_model_meta(meta, f"{path}:{CONFIG_FILE}")
    tensors = verified_tensors(meta, data[WEIGHTS_FILE], f"{path}:{WEIGHTS_FILE}")
    tokenizer = _parse_json(data[TOKENIZER_FILE], f"{path}:{TOKENIZER_FILE}") if TOKENIZER_FILE in data else None
    return SnnContents(manifest=manifest, meta=meta, tensors=tensors, tokenizer=tokenizer, path=path)


def is_snn_file(path: str | Path) -> bool:
    """Whether ``path`` is a file (any name) that starts like a zip archive."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


__all__ = [
    "MANIFEST_FILE",
    "MEMBERS",
    "SNN_FORMAT",
    "SNN_FORMAT_VERSION",
    "SnnContents",
    "is_snn_file",
    "read_manifest",
    "read_snn",
    "snn_members",
    "spike_coding_record",
    "write_snn",
]
