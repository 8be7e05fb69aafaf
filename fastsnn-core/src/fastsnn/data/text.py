"""A tiny character-level text dataset: tokenizer, train/val split and random windows.

>>> data = TextDataset.from_file("input.txt", tokenizer="char", val_fraction=0.1)  # doctest: +SKIP
>>> batches = data.random_windows("train", batch_size=8, seq_len=65, seed=0)        # doctest: +SKIP
>>> next(iter(batches)).shape                                                          # doctest: +SKIP
torch.Size([8, 65])
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import torch

from fastsnn.errors import FastSNNError

TokenizerKind = Literal["char", "byte"]


class CharTokenizer:
    """Maps text to token ids one character (``"char"``) or one UTF-8 byte (``"byte"``) at a time.

    - ``char``: the vocabulary is the sorted set of characters of the text it was built from;
      ids are positions in it. Unknown characters are an error.
    - ``byte``: 256 ids, one per byte value; any text round-trips.
    """

    def __init__(self, kind: TokenizerKind, chars: list[str] | None = None) -> None:
        if kind not in ("char", "byte"):
            raise FastSNNError(f"tokenizer must be 'char' or 'byte', got {kind!r}")
        if kind == "char":
            if not chars:
                raise FastSNNError("a char tokenizer needs a non-empty vocabulary of characters")
            if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
                raise FastSNNError("a char tokenizer's vocabulary must be distinct single characters")
        self.kind = kind
        self.chars = list(chars) if kind == "char" else None
        self._index = {c: i for i, c in enumerate(self.chars)} if self.chars else None
        self._sorted: np.ndarray | None = None  # the vocabulary's code points, sorted (vectorised encode)
        self._order: np.ndarray | None = None

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """A char tokenizer whose vocabulary is every character of ``text``."""
        return cls("char", sorted(set(text)))

    @classmethod
    def bytes(cls) -> CharTokenizer:
        """The byte tokenizer (vocabulary 256)."""
        return cls("byte")

    @property
    def vocab_size(self) -> int:
        return len(self.chars) if self.chars is not None else 256

    def encode(self, text: str) -> torch.Tensor:
        """``text`` → LongTensor ``[len]`` of ids."""
        if self.kind == "byte":
            return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).long()
        try:
            return torch.tensor([self._index[c] for c in text], dtype=torch.long)
        except KeyError as err:
            raise FastSNNError(
                f"character {err.args[0]!r} is not in the tokenizer's vocabulary of {self.vocab_size} characters; "
                "build the tokenizer from text that contains it, or use the byte tokenizer"
            ) from None

    def encode_array(self, text: str, unknown: Literal["error", "skip"] = "error") -> tuple[np.ndarray, dict[str, int]]:
        """``text`` → ids (int64 array, vectorised) and the characters outside the vocabulary.

        :param unknown: ``"error"`` raises on the first unknown character; ``"skip"`` leaves them
            out and returns ``{character: times}`` (what ``fastsnn eval`` reports).
        """
        if self.kind == "byte":
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64), {}
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        vocab = self._codepoints()
        index = np.searchsorted(vocab, points).clip(max=len(vocab) - 1)
        known = vocab[index] == points
        if known.all():
            return self._order[index], {}
        missing: dict[str, int] = {}
        for value, times in zip(*np.unique(points[~known], return_counts=True)):
            missing[chr(int(value))] = int(times)
        if unknown == "error":
            first = chr(int(points[~known][0]))
            raise FastSNNError(
                f"character {first!r} is not in the tokenizer's vocabulary of {self.vocab_size} characters "
                f"({sum(missing.values())} unknown character(s) of {len(missing)} kind(s)); build the tokenizer from "
                "text that contains it, or use the byte tokenizer"
            )
        return self._order[index[known]], missing

    def _codepoints(self) -> np.ndarray:
        if self._sorted is None:
            points = np.array([ord(c) for c in self.chars], dtype=np.uint32)
            order = np.argsort(points, kind="stable")
            self._sorted, self._order = points[order], order.astype(np.int64)
        return self._sorted

    def token_bytes(self) -> list[int]:
        """UTF-8 bytes each id stands for (for bits per byte): 1 for the byte tokenizer."""
        return [1] * 256 if self.chars is None else [len(c.encode("utf-8")) for c in self.chars]

    def decode(self, ids: torch.Tensor | list[int], unknown: Literal["error", "replace"] = "error") -> str:
        """Ids ``[len]`` → text, multi-byte UTF-8 characters whole (invalid byte sequences become U+FFFD).

        :param unknown: what an id outside the vocabulary does: ``"error"`` raises, ``"replace"``
            shows it as U+FFFD (a model's vocabulary may be larger than its tokenizer's).
        """
        return self.decoder(unknown).decode(ids, final=True)

    def decoder(self, unknown: Literal["error", "replace"] = "error") -> TokenDecoder:
        """An incremental decoder for ids that arrive a few at a time (streamed generation)."""
        return TokenDecoder(self, unknown)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (store it next to a checkpoint to decode its outputs later)."""
        return {"kind": self.kind, "chars": self.chars}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharTokenizer:
        """The inverse of :meth:`to_dict`."""
        if not isinstance(data, dict) or "kind" not in data:
            raise FastSNNError(f"a tokenizer description needs a 'kind', got {data!r}")
        return cls(data["kind"], data.get("chars"))


class TokenDecoder:
    """Ids → text, fed a few ids at a time; a character split over several calls comes out whole.

    With the byte tokenizer a character such as ``é`` (bytes ``C3 A9``) is two ids; decoding them one
    at a time would give two U+FFFD. This decoder holds back the bytes of an unfinished character
    until the rest arrives (``codecs`` incremental UTF-8 decoder, errors replaced by U+FFFD)::

        dec = CharTokenizer.bytes().decoder()
        dec.decode([99, 97, 102, 0xC3])   # 'caf'
        dec.decode([0xA9])                # 'é'
        dec.decode([], final=True)        # '' (an unfinished character would be flushed as U+FFFD)

    :param unknown: ``"error"`` raises :class:`FastSNNError` for an id outside the vocabulary,
        ``"replace"`` emits U+FFFD for it (after flushing any unfinished character).
    """

    def __init__(self, tokenizer: CharTokenizer, unknown: Literal["error", "replace"] = "error") -> None:
        if unknown not in ("error", "replace"):
            raise FastSNNError(f"unknown must be 'error' or 'replace', got {unknown!r}")
        self.tokenizer, self.unknown = tokenizer, unknown
        self._bytes = codecs.getincrementaldecoder("utf-8")(errors="replace") if tokenizer.kind == "byte" else None

    def decode(self, ids: torch.Tensor | list[int] | int, final: bool = False) -> str:
        """The text completed by ``ids`` (``[len]``, or one id); ``final=True`` flushes what is held back."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() > 1 or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
                raise FastSNNError(f"decode takes a 1-D tensor of integer token ids, got {ids.dtype} {tuple(ids.shape)}")
            values = ids.reshape(-1).tolist()
        else:
            values = [ids] if isinstance(ids, int) else list(ids)
        size, parts, run = self.tokenizer.vocab_size, [], []
        for v in values:
            if isinstance(v, bool) or not hasattr(v, "__index__"):
                raise FastSNNError(f"token ids must be integers, got {v!r}")
            v = int(v)
            if 0 <= v < size:
                run.append(v)
                continue
            if self.unknown == "error":
                raise FastSNNError(f"token id {v} is outside the tokenizer's vocabulary (0..{size - 1})")
            parts.append(self._known(run, final=True) + "\ufffd")  # an unfinished character ends here
            run = []
        parts.append(self._known(run, final=final))
        return "".join(parts)

    def _known(self, ids: list[int], final: bool) -> str:
        if self._bytes is None:
            return "".join(self.tokenizer.chars[v] for v in ids)
        return self._bytes.decode(bytes(ids), final=final)


@dataclass
class TextDataset:
    """Token ids of a text, split into a training part (first) and a validation part (last)."""

    tokenizer: CharTokenizer
    train: torch.Tensor  # [N_train] int64
    val: torch.Tensor  # [N_val] int64

    @classmethod
    def from_ids(cls, tokenizer: CharTokenizer, ids: torch.Tensor, val_fraction: float = 0.1) -> TextDataset:
        """Split encoded ids ``[N]`` at ``int(N · (1 - val_fraction))``: train first, validation last."""
        if not 0 <= val_fraction < 1:
            raise FastSNNError(f"val_fraction must be in [0, 1), got {val_fraction}")
        split = int(len(ids) * (1 - val_fraction))
        return cls(tokenizer, ids[:split], ids[split:])

    @classmethod
    def from_text(cls, text: str, tokenizer: TokenizerKind | CharTokenizer = "char",
                  val_fraction: float = 0.1) -> TextDataset:
        """Encode ``text`` (a char tokenizer is built from it unless given) and split it."""
        if not text:
            raise FastSNNError("the text is empty; there is nothing to train on")
        if isinstance(tokenizer, str):
            tokenizer = CharTokenizer.from_text(text) if tokenizer == "char" else CharTokenizer(tokenizer)
        return cls.from_ids(tokenizer, tokenizer.encode(text), val_fraction)

    @classmethod
    def from_file(cls, path: str | Path, tokenizer: TokenizerKind | CharTokenizer = "char",
                  val_fraction: float = 0.1) -> TextDataset:
        """Read a UTF-8 text file (any bytes with ``tokenizer="byte"``) and split it."""
        path = Path(path)
        if not path.exists():
            raise FastSNNError(f"text file {path} not found")
        if not path.is_file():
            raise FastSNNError(f"{path} is not a file")
        raw = path.read_bytes()
        if not raw:
            raise FastSNNError(f"text file {path} is empty; there is nothing to train on")
        if tokenizer == "byte" or (isinstance(tokenizer, CharTokenizer) and tokenizer.kind == "byte"):
            ids = torch.frombuffer(bytearray(raw), dtype=torch.uint8).long()
            return cls.from_ids(CharTokenizer.bytes(), ids, val_fraction)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise FastSNNError(
                f"{path}: not valid UTF-8 at byte {err.start}; use tokenizer='byte' for arbitrary bytes"
            ) from None
        return cls.from_text(text, tokenizer, val_fraction)

    def check_windows(self, seq_len: int, where: str = "the text") -> None:
        """Check, before training starts, that each split holds at least one window of ``seq_len`` tokens.

        :raises FastSNNError: naming the split, its length and what to change.
        """
        for name, tokens in (("training", self.train), ("validation", self.val)):
            if len(tokens) < seq_len:
                raise FastSNNError(
                    f"{where}: the {name} split has {len(tokens):,} tokens, fewer than one window of seq_len="
                    f"{seq_len}; use a longer text or a smaller [train] seq_len"
                )

    def split(self, name: Literal["train", "val"]) -> torch.Tensor:
        if name not in ("train", "val"):
            raise FastSNNError(f"split must be 'train' or 'val', got {name!r}")
        return self.train if name == "train" else self.val

    def random_windows(self, split: Literal["train", "val"], batch_size: int, seq_len: int, seed: int = 0,
                       num_batches: int | None = None) -> RandomWindows:
        """Batches ``[batch_size, seq_len]`` of windows at random offsets of a split."""
        return RandomWindows(self.split(split), batch_size, seq_len, seed=seed, num_batches=num_batches)

    def sequential_windows(self, split: Literal["train", "val"], batch_size: int, seq_len: int) -> Iterator[torch.Tensor]:
        """Non-overlapping windows covering a split in order (for evaluation); the last batch may be smaller."""
        tokens = self.split(split)
        _check_window(tokens, seq_len, split)
        # consecutive windows share one token so every token but the first is a prediction target
        starts = list(range(0, len(tokens) - seq_len + 1, seq_len - 1))
        for i in range(0, len(starts), batch_size):
            yield torch.stack([tokens[s : s + seq_len] for s in starts[i : i + batch_size]])


class RandomWindows:
    """Random windows ``[batch_size / world_size, seq_len]`` of a token sequence, drawn with a ``torch.Generator``.

    ``tokens`` is a 1-D torch tensor or numpy array — a memory-mapped token file is read only
    where a window falls, so a corpus larger than memory trains. Iterating yields
    ``num_batches`` batches (forever if ``None``) and continues from where the last iteration
    stopped. :meth:`state_dict` / :meth:`load_state_dict` save and restore the position (the
    generator state and the number of batches drawn), which is what the Trainer stores in a
    checkpoint to resume exactly.

    Sharding: every process draws the same ``batch_size`` start offsets (same seed, same
    generator) and keeps rows ``rank·b … (rank+1)·b − 1`` with ``b = batch_size / world_size``, so
    the processes of a distributed run read disjoint shards of one global batch — the very batch a
    single process draws with the same seed.
    """

    def __init__(self, tokens: torch.Tensor | np.ndarray, batch_size: int, seq_len: int, seed: int = 0,
                 num_batches: int | None = None, rank: int = 0, world_size: int = 1) -> None:
        if not isinstance(tokens, (torch.Tensor, np.ndarray)) or tokens.ndim != 1:
            raise FastSNNError("tokens must be a 1-D tensor (or numpy array) of token ids")
        if batch_size <= 0:
            raise FastSNNError(f"batch_size must be positive, got {batch_size}")
        if num_batches is not None and num_batches < 0:
            raise FastSNNError(f"num_batches must be >= 0, got {num_batches}")
        if world_size <= 0 or not 0 <= rank < world_size:
            raise FastSNNError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}")
        if batch_size % world_size:
            raise FastSNNError(
                f"the global batch_size {batch_size} does not divide among world_size={world_size} processes; "
                f"use a batch_size that is a multiple of {world_size}"
            )
        _check_window(tokens, seq_len, "the data")
        self.tokens = tokens.long() if isinstance(tokens, torch.Tensor) else tokens
        self.batch_size, self.seq_len, self.num_batches = batch_size, seq_len, num_batches
        self.rank, self.world_size = rank, world_size
        self.generator = torch.Generator().manual_seed(seed)
        self.drawn = 0

    def __iter__(self) -> Iterator[torch.Tensor]:
        offsets = torch.arange(self.seq_len)
        rows = self.batch_size // self.world_size
        while self.num_batches is None or self.drawn < self.num_batches:
            starts = torch.randint(0, len(self.tokens) - self.seq_len + 1, (self.batch_size,),
                                   generator=self.generator)
            starts = starts[self.rank * rows : (self.rank + 1) * rows]  # this process's shard
            self.drawn += 1
            if isinstance(self.tokens, torch.Tensor):
                yield self.tokens[starts[:, None] + offsets]  # (rows, seq_len)
            else:  # one contiguous read per window
                yield torch.from_numpy(np.stack([self.tokens[s : s + self.seq_len] for s in starts.tolist()])
                                       .astype(np.int64))

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "drawn": self.drawn}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.generator.set_state(state["generator"].to(torch.uint8))
            self.drawn = int(state["drawn"])
        except (KeyError, AttributeError, RuntimeError, TypeError) as err:
            raise FastSNNError(f"bad RandomWindows state ({type(err).__name__}: {err})") from None


def _check_window(tokens: torch.Tensor | np.ndarray, seq_len: int, what: str) -> None:
    if seq_len < 2:
        raise FastSNNError(f"seq_len must be at least 2 (an input and its next token), got {seq_len}")
    if len(tokens) < seq_len:
        raise FastSNNError(f"{what} has {len(tokens)} tokens, fewer than one window of seq_len={seq_len}")
