"""A training run's folder, and the identity that keeps it from being damaged.

``fastsnn train --out DIR`` keeps everything of one run in ``DIR``::

    run.json           the run's identity: model, train and data settings, tokenizer, data fingerprint
    metrics.jsonl      every log and evaluation record, one JSON object per line
    tokenizer.json     the tokenizer (what ``generate`` uses to read and write text)
    step_00000400/     checkpoints (see fastsnn.train.checkpoints), and ``latest``

Rules (DESIGN.md §7, "a run folder is never damaged"):

- a new run refuses a folder that already holds something, unless told to overwrite it;
- ``--resume`` compares the identity it would write with the recorded one and refuses any
  difference — naming each — except the settings that are safe to change (:data:`SAFE_TO_CHANGE`)
  and those the user explicitly allows;
- nothing is written before every check has passed (the caller checks first, then calls
  :func:`start_run`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastsnn.data.sources import resolve_sources
from fastsnn.errors import FastSNNError
from fastsnn.safe_io import atomic_write_bytes, json_bytes, read_json

RUN_FILE = "run.json"
TOKENIZER_FILE = "tokenizer.json"
#: identity fields a resumed run may change without being told (they do not change what is learned)
SAFE_TO_CHANGE = frozenset({"train.max_steps", "train.log_every", "train.checkpoint_every", "train.checkpoint_dir",
                            "train.device", "data.path", "train.eval_every", "train.eval_batches", "train.spike_stats",
                            "train.activation_checkpointing", "train.distributed"})
#: fields no --allow-change can accept: token ids would silently mean other characters
NEVER_CHANGE = frozenset({"tokenizer"})


def data_fingerprint(path: str | Path) -> dict[str, Any]:
    """``{"path", "files", "bytes", "sha256"}`` of a data file, folder or glob (see
    :meth:`fastsnn.data.sources.Sources.fingerprint`; for one file the SHA-256 of its bytes)."""
    return resolve_sources(path).fingerprint()


def run_identity(model: dict[str, Any], train: dict[str, Any], tokenizer: dict[str, Any],
                 data: dict[str, Any], dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-ready identity of a run (what ``run.json`` holds).

    :param data: the data fingerprint; :param dataset: the ``[data]`` settings that change what is
        learned (tokenizer kind, BPE vocabulary, validation fraction; not the cache folder).
    """
    identity = {"format": "fastsnn-run", "version": 1, "model": model, "train": train, "tokenizer": tokenizer,
                "data": data}
    if dataset is not None:
        identity["dataset"] = {k: v for k, v in dataset.items() if k != "cache_dir"}
    return identity


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def identity_differences(recorded: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``dotted.path → (recorded, current)`` for every field that differs (format fields ignored).

    The tokenizer and the data fingerprint compare as wholes (``"tokenizer"``, ``"data"``)."""
    diffs: dict[str, tuple[Any, Any]] = {}
    for section in ("model", "train", "dataset"):
        old, new = _flatten(recorded.get(section) or {}), _flatten(current.get(section) or {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                diffs[f"{section}.{key}"] = (old.get(key), new.get(key))
    if recorded.get("tokenizer") != current.get("tokenizer"):
        diffs["tokenizer"] = ("(recorded tokenizer)", "(a different vocabulary)")
    old_data, new_data = recorded.get("data") or {}, current.get("data") or {}
    if old_data.get("sha256") != new_data.get("sha256"):
        diffs["data"] = (f"{old_data.get('path')} ({old_data.get('bytes')} bytes, sha256 {str(old_data.get('sha256'))[:12]}…)",
                         f"{new_data.get('path')} ({new_data.get('bytes')} bytes, sha256 {str(new_data.get('sha256'))[:12]}…)")
    elif old_data.get("path") != new_data.get("path"):
        diffs["data.path"] = (old_data.get("path"), new_data.get("path"))
    return diffs


def check_resume(out: Path, current: dict[str, Any], allow: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """Check that ``current`` may continue the run in ``out``; returns the recorded identity.

    :raises FastSNNError: no run there, or a difference that is neither safe nor allowed (each named,
        with how to allow it), or a tokenizer change (never allowed).
    """
    path = out / RUN_FILE
    if not path.is_file():
        raise FastSNNError(
            f"--resume: {out} has no {RUN_FILE}, so it is not a FastSNN run folder (or was made by an older "
            "FastSNN); drop --resume to start a new run in an empty folder"
        )
    recorded = read_json(path)
    if not isinstance(recorded, dict) or recorded.get("format") != "fastsnn-run":
        raise FastSNNError(f"{path}: not a FastSNN run identity file; the run folder is damaged")
    diffs = identity_differences(recorded, current)
    refused = {k: v for k, v in diffs.items() if k not in SAFE_TO_CHANGE and (k not in allow or k in NEVER_CHANGE)}
    if refused:
        lines = [f"  {key}: {old!r} in the run, {new!r} now" for key, (old, new) in refused.items()]
        allowable = [k for k in refused if k not in NEVER_CHANGE]
        hint = []
        if allowable:
            hint.append("if you mean it, allow each change explicitly: "
                        + " ".join(f"--allow-change {k}" for k in allowable))
        if "tokenizer" in refused:
            hint.append("a different tokenizer would silently remap token ids: train a new run instead")
        raise FastSNNError(
            f"--resume: the run in {out} was started with different settings:\n" + "\n".join(lines)
            + "\n" + "; ".join(hint)
        )
    return recorded


def check_new_run(out: Path, overwrite: bool) -> None:
    """A new run needs an empty (or absent) folder, unless ``overwrite``.

    :raises FastSNNError: the folder holds files, naming how to continue or replace them.
    """
    if out.exists() and not out.is_dir():
        raise FastSNNError(f"--out {out} is a file, not a folder; choose another path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FastSNNError(
            f"--out {out} already holds files (an earlier run?). Nothing was changed. Continue that run with "
            "--resume, choose another --out, or replace it explicitly with --overwrite"
        )


def start_run(out: Path, identity: dict[str, Any], tokenizer: dict[str, Any], *, overwrite: bool) -> None:
    """Write the run's identity and tokenizer (after every check has passed); with ``overwrite``,
    the old contents of ``out`` are removed first."""
    if overwrite and out.is_dir():
        for entry in out.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / TOKENIZER_FILE, json_bytes(tokenizer))
    atomic_write_bytes(out / RUN_FILE, json_bytes(identity))


def record_allowed_changes(out: Path, identity: dict[str, Any]) -> None:
    """After a resume that changed safe or allowed settings, record the new identity."""
    atomic_write_bytes(out / RUN_FILE, json_bytes(identity))
