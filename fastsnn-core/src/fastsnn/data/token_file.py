"""Token files: a corpus tokenised once, stored as a flat array that training memory-maps.

``NAME.tokens`` holds the ids as little-endian ``uint8`` (vocabulary ≤ 256), ``uint16`` (≤ 65,536)
or ``uint32``, nothing else; ``NAME.tokens.json`` beside it says what they are::

    {"format": "fastsnn-tokens", "version": 1, "dtype": "uint16", "count": 1115394,
     "tokenizer": {...tokenizer.json...}, "source": {"path", "files", "bytes", "sha256"},
     "unknown": {"é": 3}}            # characters left out (evaluation with a char tokenizer)

Both are written atomically (temporary file, fsync, rename; the description last), so a killed
writer leaves no half file that a reader would take for whole. :func:`open_token_file` checks the
description, the size (a truncated file is refused) and, when given one, that the tokenizer is
the caller's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from fastsnn.errors import FastSNNError
from fastsnn.safe_io import atomic_write_bytes, json_bytes, read_json

FORMAT = "fastsnn-tokens"
VERSION = 1
SUFFIX = ".tokens"
DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32}


def dtype_for(vocab_size: int) -> str:
    """The narrowest unsigned dtype that holds ids ``0 … vocab_size − 1``."""
    return "uint8" if vocab_size <= 1 << 8 else "uint16" if vocab_size <= 1 << 16 else "uint32"


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def write_token_file(path: Path, blocks: Iterable[np.ndarray], meta: dict[str, Any]) -> dict[str, Any]:
    """Write the ids of ``blocks`` (1-D integer arrays, streamed) to ``path`` and its description.

    ``meta`` must hold ``dtype`` and ``tokenizer``; ``count`` and ``format`` are added. Returns the
    description written.
    """
    dtype = DTYPES[meta["dtype"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with open(tmp, "wb") as fh:
            for block in blocks:
                fh.write(np.ascontiguousarray(block, dtype=np.dtype(dtype).newbyteorder("<")).tobytes())
                count += len(block)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    full = {"format": FORMAT, "version": VERSION, **meta, "count": count}
    atomic_write_bytes(meta_path(path), json_bytes(full))
    return full


def open_token_file(path: Path, tokenizer: dict[str, Any] | None = None, allow_empty: bool = False
                    ) -> tuple[np.ndarray, dict[str, Any]]:
    """Memory-map ``path`` read-only; returns ``(ids [count], description)``.

    :param tokenizer: the tokenizer description the ids must come from (None: any).
    :raises FastSNNError: no or a foreign description, a size that does not match (truncated or
        grown), no tokens, or another tokenizer — each naming the file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise FastSNNError(f"token file {path} not found")
    description = meta_path(path)
    if not description.is_file():
        raise FastSNNError(f"{path} has no {description.name} beside it, so what its ids mean is unknown; "
                           "give the text instead and FastSNN tokenises it")
    meta = read_json(description)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FastSNNError(f"{description}: not a FastSNN token file description")
    if meta.get("version") != VERSION or meta.get("dtype") not in DTYPES or not isinstance(meta.get("count"), int):
        raise FastSNNError(f"{description}: unsupported or damaged description (version {meta.get('version')!r}, "
                           f"dtype {meta.get('dtype')!r}); delete the token file and its description to rebuild it")
    itemsize = np.dtype(DTYPES[meta["dtype"]]).itemsize
    expected, actual = meta["count"] * itemsize, path.stat().st_size
    if actual != expected:
        raise FastSNNError(
            f"{path} holds {actual:,} bytes but its description promises {meta['count']:,} {meta['dtype']} ids "
            f"({expected:,} bytes): the file is {'truncated' if actual < expected else 'longer than written'}; "
            "delete it and its .json to tokenise the text again"
        )
    if tokenizer is not None and meta.get("tokenizer") != tokenizer:
        theirs = meta.get("tokenizer") or {}
        raise FastSNNError(
            f"{path} was tokenised with another tokenizer ({_describe(theirs)}) than this run's ({_describe(tokenizer)}); "
            "its ids would mean other characters: give the text instead, or the run that made the file"
        )
    if meta["count"] == 0:
        if allow_empty:
            return np.zeros(0, dtype=DTYPES[meta["dtype"]]), meta
        raise FastSNNError(f"{path} holds no tokens; there is nothing to train on")
    ids = np.memmap(path, dtype=np.dtype(DTYPES[meta["dtype"]]).newbyteorder("<"), mode="r", shape=(meta["count"],))
    return ids, meta


def _describe(tokenizer: dict[str, Any]) -> str:
    kind = tokenizer.get("kind")
    if kind == "char":
        return f"char, {len(tokenizer.get('chars') or [])} characters"
    if kind == "bpe":
        vocab = ((tokenizer.get("tokenizer") or {}).get("model") or {}).get("vocab") or {}
        return f"bpe, {len(vocab)} tokens"
    return str(kind)
