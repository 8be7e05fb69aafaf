"""A training corpus: text from a file, folder or glob, tokenised once into a cached token file.

>>> corpus = prepare_corpus("books/", tokenizer="byte", cache_dir="/tmp/cache")     # doctest: +SKIP
>>> batches = corpus.random_windows("train", batch_size=16, seq_len=257, seed=0)    # doctest: +SKIP

The first call reads the text (checking it, see :meth:`Sources.check_text`), fingerprints it,
builds the tokenizer if it is derived from the text (``char``: its characters; ``bpe``: merges
learned from it), and streams the ids into ``<cache>/<key>.tokens`` (see
:mod:`fastsnn.data.token_file`). The key is a hash of the tokenizer (or how it is derived) and
the content's SHA-256, so a later run on the same text reuses the file whatever its path, and
any change of the text or the tokenizer makes a new one. Training memory-maps the file: a
corpus larger than memory trains. A cached file found damaged (truncated, say) is rebuilt with a
notice; a token file given directly as ``--data x.tokens`` is checked and refused if damaged or
from another tokenizer.

The split is on tokens: the first ``⌊N·(1 − val_fraction)⌋`` train, the rest validate.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import numpy as np
import torch

from fastsnn.data.bpe import BPETokenizer
from fastsnn.data.sources import BLOCK, Sources, resolve_sources
from fastsnn.data.text import CharTokenizer, RandomWindows
from fastsnn.data.token_file import SUFFIX, dtype_for, open_token_file, write_token_file
from fastsnn.data.tokenizer import KINDS, Tokenizer, tokenizer_from_dict
from fastsnn.errors import FastSNNError

Split = Literal["train", "val", "all"]


def default_cache_dir() -> Path:
    """``$FASTSNN_CACHE/tokens``, else ``~/.cache/fastsnn/tokens``."""
    root = os.environ.get("FASTSNN_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "fastsnn") / "tokens"


@dataclass
class Corpus:
    """Token ids of a corpus (memory-mapped), its tokenizer and its train/validation split."""

    tokenizer: Tokenizer
    tokens: np.ndarray  # [N], memory-mapped
    split_at: int
    fingerprint: dict[str, Any]
    token_file: Path
    unknown: dict[str, int] = field(default_factory=dict)

    @property
    def train(self) -> np.ndarray:
        return self.tokens[: self.split_at]

    @property
    def val(self) -> np.ndarray:
        return self.tokens[self.split_at :]

    def part(self, split: Split) -> np.ndarray:
        if split not in ("train", "val", "all"):
            raise FastSNNError(f"split must be 'train', 'val' or 'all', got {split!r}")
        return self.tokens if split == "all" else self.train if split == "train" else self.val

    def check_windows(self, seq_len: int, where: str = "the text", splits: tuple[str, ...] = ("train", "val")) -> None:
        """Each split must hold one window of ``seq_len`` tokens.

        :raises FastSNNError: naming the split, its length and what to change.
        """
        names = {"train": "training", "val": "validation", "all": "whole"}
        for split in splits:
            n = len(self.part(split))
            if n < seq_len:
                raise FastSNNError(
                    f"{where}: the {names[split]} split has {n:,} tokens, fewer than one window of seq_len={seq_len}; "
                    "use a longer text or a smaller [train] seq_len"
                )

    def random_windows(self, split: Split, batch_size: int, seq_len: int, seed: int = 0, rank: int = 0,
                       world_size: int = 1) -> RandomWindows:
        """Random windows ``[batch_size / world_size, seq_len]`` (see :class:`RandomWindows`)."""
        return RandomWindows(self.part(split), batch_size, seq_len, seed=seed, rank=rank, world_size=world_size)

    def sequential_windows(self, split: Split, batch_size: int, seq_len: int, tail: bool = False,
                           max_batches: int | None = None) -> Iterator[torch.Tensor]:
        """Windows ``[≤ batch_size, seq_len]`` covering a split in order; consecutive windows share one
        token, so every token but the first is predicted exactly once. With ``tail`` the tokens after the
        last full window come as a final ``[1, L]`` batch (``L ≥ 2``): every token is scored."""
        tokens = self.part(split)
        if len(tokens) < 2:
            raise FastSNNError(f"the {split} split has {len(tokens)} token(s); at least 2 are needed")
        step = seq_len - 1
        starts = list(range(0, len(tokens) - seq_len + 1, step))
        emitted = 0
        for i in range(0, len(starts), batch_size):
            if max_batches is not None and emitted >= max_batches:
                return
            yield torch.from_numpy(np.stack([tokens[s : s + seq_len] for s in starts[i : i + batch_size]])
                                   .astype(np.int64))
            emitted += 1
        covered = starts[-1] + seq_len if starts else 0
        rest_start = max(covered - 1, 0)
        if tail and len(tokens) - rest_start >= 2 and (max_batches is None or emitted < max_batches):
            yield torch.from_numpy(np.asarray(tokens[rest_start:], dtype=np.int64)[None])

    def token_bytes(self) -> torch.Tensor:
        """UTF-8 bytes each id stands for ``[vocab]`` (for bits per byte)."""
        return torch.tensor(self.tokenizer.token_bytes(), dtype=torch.float64)


def prepare_corpus(
    data: str | Path,
    tokenizer: str | Tokenizer = "byte",
    *,
    val_fraction: float = 0.1,
    cache_dir: str | Path | None = None,
    bpe_vocab_size: int = 1024,
    unknown: Literal["error", "skip"] = "error",
    notice: Callable[[str], None] | None = None,
) -> Corpus:
    """Tokenise ``data`` (file, folder, glob or a ``.tokens`` file) once, cached; see the module docstring.

    :param tokenizer: a kind (``"byte"``, ``"char"``, ``"bpe"``: built from the text) or a tokenizer
        (a resumed run's: the ids keep their meaning).
    :param unknown: characters a given char tokenizer does not know: ``"error"`` (training) or
        ``"skip"`` (evaluation: left out, counted in :attr:`Corpus.unknown`).
    :raises FastSNNError: missing/empty/binary/non-UTF-8 input (per tokenizer), a folder without
        text files, a damaged or foreign token file.
    """
    say = notice or (lambda message: None)
    if not 0 <= val_fraction < 1:
        raise FastSNNError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if isinstance(tokenizer, str) and tokenizer not in KINDS:
        raise FastSNNError(f"tokenizer must be one of {', '.join(KINDS)}, got {tokenizer!r}")
    if not isinstance(tokenizer, str) and tokenizer.kind == "byte":
        tokenizer = "byte"  # there is one byte tokenizer: the same cache file either way
    kind = tokenizer if isinstance(tokenizer, str) else tokenizer.kind
    given = None if isinstance(tokenizer, str) else tokenizer.to_dict()
    path = Path(str(data)).expanduser()
    if path.suffix == SUFFIX and path.is_file():
        ids, meta = open_token_file(path, given)
        if given is None and (meta.get("tokenizer") or {}).get("kind") != kind:
            raise FastSNNError(f"{path} was tokenised with the {(meta.get('tokenizer') or {}).get('kind')} tokenizer, "
                               f"not {kind}; pass --tokenizer {(meta.get('tokenizer') or {}).get('kind')}")
        return _corpus(meta, ids, path, val_fraction)

    sources = resolve_sources(data)
    if sources.skipped:
        say(f"skipped {len(sources.skipped)} binary file(s) in {data}: "
            + ", ".join(sources.name_of(p) for p in sources.skipped[:5]) + (" …" if len(sources.skipped) > 5 else ""))
    sources.check_text(kind)
    fingerprint = sources.fingerprint()
    recipe = {"tokenizer": given} if given is not None else {"derive": kind}
    if given is None and kind == "bpe":
        recipe["bpe_vocab_size"] = bpe_vocab_size
    key_source = {**recipe, "sha256": fingerprint["sha256"], "unknown": unknown, "version": 1}
    key = hashlib.sha256(json.dumps(key_source, sort_keys=True).encode()).hexdigest()[:32]
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    token_path = cache / f"{key}{SUFFIX}"
    if token_path.is_file():
        try:
            ids, meta = open_token_file(token_path, given, allow_empty=True)
            return _corpus(meta, ids, token_path, val_fraction, fingerprint, data)
        except FastSNNError as err:
            say(f"the cached token file is damaged ({err}); tokenising the text again")
    tok = _build_tokenizer(tokenizer, sources, bpe_vocab_size, say)
    say(f"tokenising {fingerprint['bytes']:,} bytes of {data} ({tok.kind}) into {token_path}")
    found: dict[str, int] = {}
    blocks = _encode_blocks(tok, sources, unknown, found)
    meta = write_token_file(token_path, blocks, {"dtype": dtype_for(tok.vocab_size), "tokenizer": tok.to_dict(),
                                                 "source": fingerprint, "unknown": found})
    ids, meta = open_token_file(token_path, tok.to_dict(), allow_empty=True)
    return _corpus(meta, ids, token_path, val_fraction, fingerprint, data)


def _corpus(meta: dict[str, Any], ids: np.ndarray, path: Path, val_fraction: float,
            fingerprint: dict[str, Any] | None = None, data: Any = None) -> Corpus:
    if len(ids) == 0:
        unknown = meta.get("unknown") or {}
        raise FastSNNError(
            f"{data or path}: no token is left: all {sum(unknown.values()):,} characters are outside the tokenizer's "
            f"vocabulary ({', '.join(repr(c) for c in list(unknown)[:10])})" if unknown else
            f"{data or path}: holds no tokens; there is nothing to train on"
        )
    tokenizer = tokenizer_from_dict(meta["tokenizer"])
    return Corpus(tokenizer=tokenizer, tokens=ids, split_at=int(len(ids) * (1 - val_fraction)),
                  fingerprint=fingerprint or dict(meta.get("source") or {"path": str(path)}), token_file=path,
                  unknown=dict(meta.get("unknown") or {}))


def _build_tokenizer(tokenizer: str | Tokenizer, sources: Sources, bpe_vocab_size: int,
                     say: Callable[[str], None]) -> Tokenizer:
    if not isinstance(tokenizer, str):
        return tokenizer
    if tokenizer == "byte":
        return CharTokenizer.bytes()
    if tokenizer == "char":
        points: np.ndarray = np.zeros(0, dtype=np.uint32)
        for text in sources.text_blocks():
            points = np.union1d(points, np.unique(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)))
        return CharTokenizer("char", [chr(int(p)) for p in points])
    say(f"training a BPE tokenizer ({bpe_vocab_size} tokens) on {sources.spec}")
    return BPETokenizer.train(_line_blocks(sources), bpe_vocab_size)


def _line_blocks(sources: Sources) -> Iterator[str]:
    """The text in pieces that end at a line break (BPE never merges across a piece's end)."""
    carry = ""
    for text in sources.text_blocks():
        text = carry + text
        cut = text.rfind("\n") + 1
        if cut == 0 and len(text) < 4 * BLOCK:
            carry = text
            continue
        cut = cut or len(text)
        carry = text[cut:]
        yield text[:cut]
    if carry:
        yield carry


def _encode_blocks(tok: Tokenizer, sources: Sources, unknown: str, found: dict[str, int]) -> Iterator[np.ndarray]:
    if tok.kind == "byte":
        for _, block in sources.blocks():
            yield np.frombuffer(block, dtype=np.uint8)
        return
    pieces = _line_blocks(sources) if tok.kind == "bpe" else sources.text_blocks()
    for text in pieces:
        ids, missing = tok.encode_array(text, unknown)  # type: ignore[arg-type]
        for char, times in missing.items():
            found[char] = found.get(char, 0) + times
        yield ids
