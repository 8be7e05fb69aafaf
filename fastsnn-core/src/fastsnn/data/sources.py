"""Where a corpus comes from: one file, a folder or a glob, resolved to an ordered list of files.

- **a file** is taken as it is (the byte tokenizer accepts any bytes; char and BPE need UTF-8 text);
- **a folder** contributes every regular file below it (recursively) whose path has no hidden
  part (``.git``, ``.cache``, …), in sorted order of the relative path;
- **a glob** (``"books/**/*.txt"``; ``**`` recurses) contributes the files it matches, sorted.

In a folder or a glob, files that look binary (a NUL byte in their first 8 KiB, as git decides)
are skipped and listed in :attr:`Sources.skipped`; if nothing is left, that is an error. Files are
joined in order with nothing between them.

The fingerprint (:meth:`Sources.fingerprint`) is a SHA-256 over the content — for one file exactly
``sha256sum FILE``; for several, over each file's relative name, size and content — so a run
folder and the token cache notice any change of the text, and none of where it lives.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from fastsnn.errors import FastSNNError

#: bytes read at a time when hashing, validating or tokenising
BLOCK = 1 << 24
SNIFF = 8192
GLOB_CHARS = frozenset("*?[")


def looks_binary(path: Path) -> bool:
    """A NUL byte in the first 8 KiB (git's heuristic)."""
    with open(path, "rb") as fh:
        return b"\0" in fh.read(SNIFF)


@dataclass(frozen=True)
class Sources:
    """The files of a corpus, in order. ``spec`` is what the user gave (a path or a glob)."""

    spec: str
    files: tuple[Path, ...]
    root: Path | None = None  # names in the fingerprint are relative to it (folder), else file names
    skipped: tuple[Path, ...] = field(default=())

    @property
    def total_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)

    def name_of(self, path: Path) -> str:
        if self.root is not None:
            return path.relative_to(self.root).as_posix()
        return path.as_posix()

    def blocks(self) -> Iterator[tuple[Path, bytes]]:
        """``(file, block)`` pairs of at most :data:`BLOCK` bytes, in order."""
        for path in self.files:
            with open(path, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(BLOCK), b""):
                    yield path, block

    def fingerprint(self) -> dict[str, Any]:
        """``{"path", "files", "bytes", "sha256"}`` (one pass over the content)."""
        digest = hashlib.sha256()
        total = 0
        single = len(self.files) == 1
        for path in self.files:
            size = path.stat().st_size
            total += size
            if not single:
                digest.update(f"{self.name_of(path)}\0{size}\0".encode())
            with open(path, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(BLOCK), b""):
                    digest.update(block)
        return {"path": self.spec, "files": len(self.files), "bytes": total, "sha256": digest.hexdigest()}

    def check_text(self, tokenizer_kind: str) -> None:
        """Refuse what a tokenizer cannot read: empty input (every tokenizer); with ``char`` or
        ``bpe``, a file with a NUL byte or that is not valid UTF-8 (naming the file and byte offset).

        :raises FastSNNError: naming the file, the problem and what to do.
        """
        if self.total_bytes == 0:
            what = f"text file {self.files[0]}" if len(self.files) == 1 else f"all {len(self.files)} files of {self.spec}"
            raise FastSNNError(f"{what} {'is' if len(self.files) == 1 else 'are'} empty; there is nothing to train on")
        if tokenizer_kind == "byte":
            return
        for path in self.files:
            decoder = codecs.getincrementaldecoder("utf-8")()
            offset = 0
            with open(path, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(BLOCK), b""):
                    nul = block.find(b"\0")
                    if nul >= 0:
                        raise FastSNNError(
                            f"{path}: binary data (a NUL byte at byte {offset + nul}); the {tokenizer_kind} tokenizer "
                            "reads text only: use --tokenizer byte for arbitrary bytes, or leave the file out"
                        )
                    pending = len(decoder.getstate()[0])  # bytes of an unfinished character held back
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError as err:
                        raise FastSNNError(
                            f"{path}: not valid UTF-8 at byte {offset - pending + err.start}; the {tokenizer_kind} "
                            "tokenizer reads UTF-8 text: convert the file (e.g. iconv -t UTF-8), or use "
                            "--tokenizer byte for arbitrary bytes"
                        ) from None
                    offset += len(block)
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    raise FastSNNError(
                        f"{path}: not valid UTF-8: the file ends inside a multi-byte character (byte {offset}); "
                        "the file may be truncated, or use --tokenizer byte"
                    ) from None

    def text_blocks(self) -> Iterator[str]:
        """The text, decoded as UTF-8 block by block (a character split between blocks stays whole)."""
        for path in self.files:
            decoder = codecs.getincrementaldecoder("utf-8")()
            with open(path, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(BLOCK), b""):
                    text = decoder.decode(block)
                    if text:
                        yield text
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail


def resolve_sources(spec: str | Path) -> Sources:
    """The files named by ``spec`` (a file, a folder or a glob); see the module docstring.

    :raises FastSNNError: nothing there, a folder or glob with no text files, or a special file.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_file():
        return Sources(text, (path,))
    if path.is_dir():
        candidates = sorted((p for p in path.rglob("*") if p.is_file()
                             and not any(part.startswith(".") for part in p.relative_to(path).parts)),
                            key=lambda p: p.relative_to(path).as_posix())
        files, skipped = _split_binary(candidates)
        if not files:
            detail = (f"; skipped {len(skipped)} binary file(s): {', '.join(p.name for p in skipped[:5])}"
                      if skipped else "")
            raise FastSNNError(f"folder {path} has no text files{detail}; point --data at a folder of text files")
        return Sources(text, tuple(files), root=path, skipped=tuple(skipped))
    if path.exists():
        raise FastSNNError(f"{path} is neither a file nor a folder; --data takes a text file, a folder or a glob")
    if GLOB_CHARS & set(text):
        matched = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        files, skipped = _split_binary(matched)
        if not files:
            detail = f" ({len(skipped)} binary file(s) skipped)" if skipped else ""
            raise FastSNNError(f"the pattern {text!r} matches no text files{detail}; check the pattern (quote it "
                               "so the shell does not expand it; ** matches folders recursively)")
        return Sources(text, tuple(files), skipped=tuple(skipped))
    raise FastSNNError(f"{text} not found; --data takes a text file, a folder or a glob such as 'books/*.txt'")


def _split_binary(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    files, skipped = [], []
    for p in paths:
        (skipped if looks_binary(p) else files).append(p)
    return files, skipped
