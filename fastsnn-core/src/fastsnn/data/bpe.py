"""A byte-level BPE tokenizer trained here, on your corpus, with the ``tokenizers`` package.

Install the extra: ``pip install "fastsnn-core[bpe]"``. Training and encoding need ``tokenizers``;
decoding does not (the vocabulary in ``tokenizer.json`` maps each id to its bytes), so a model
trained with BPE generates text on an install without the extra.

The tokenizer is byte-level (GPT-2's scheme): every byte sequence is representable, no id is
"unknown", and each token stands for a fixed string of bytes, so bits per byte are exact.
"""

from __future__ import annotations

import codecs
import json
from functools import lru_cache
from typing import Any, Iterable, Literal

import numpy as np
import torch

from fastsnn.data.text import TokenDecoder
from fastsnn.errors import FastSNNError


@lru_cache(maxsize=1)
def byte_alphabet() -> dict[str, int]:
    """GPT-2's byte-level alphabet: printable stand-in character → byte value (256 entries)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def _require_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise FastSNNError(
            "the bpe tokenizer needs the 'tokenizers' package: pip install \"fastsnn-core[bpe]\" "
            "(or use --tokenizer byte / char)"
        ) from None
    return tokenizers


class BPETokenizer:
    """Byte-level BPE: text → ids of learned byte sequences (see the module docstring).

    ``kind`` is ``"bpe"``; :meth:`to_dict` / :meth:`from_dict` store the whole ``tokenizers``
    JSON, so a run folder carries its tokenizer.
    """

    kind = "bpe"

    def __init__(self, spec: dict[str, Any]) -> None:
        try:
            vocab = spec["model"]["vocab"]
        except (KeyError, TypeError):
            raise FastSNNError("a bpe tokenizer description needs the tokenizers JSON with model.vocab") from None
        alphabet = byte_alphabet()
        size = max(vocab.values()) + 1 if vocab else 0
        table: list[bytes] = [b""] * size
        for token, index in vocab.items():
            try:
                table[index] = bytes(alphabet[c] for c in token)
            except KeyError:
                raise FastSNNError(f"bpe token {token!r} is not byte-level; this tokenizer was not made by FastSNN") from None
        self.spec = spec
        self.token_to_bytes = table
        self._tokenizer: Any = None

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> BPETokenizer:
        """Learn merges from ``texts`` (an iterable of strings, streamed) up to ``vocab_size`` ids
        (at least 257: the 256 bytes come first)."""
        tk = _require_tokenizers()
        if vocab_size < 257:
            raise FastSNNError(f"bpe vocab_size must be at least 257 (256 byte tokens + merges), got {vocab_size}")
        tokenizer = tk.Tokenizer(tk.models.BPE())
        tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tokenizer.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False, special_tokens=[],
                                         initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
        tokenizer.train_from_iterator(texts, trainer)
        out = cls(json.loads(tokenizer.to_str()))
        out._tokenizer = tokenizer
        return out

    @property
    def vocab_size(self) -> int:
        return len(self.token_to_bytes)

    def _backend(self) -> Any:
        if self._tokenizer is None:
            tk = _require_tokenizers()
            self._tokenizer = tk.Tokenizer.from_str(json.dumps(self.spec))
        return self._tokenizer

    def encode_array(self, text: str, unknown: Literal["error", "skip"] = "error") -> tuple[np.ndarray, dict[str, int]]:
        """``text`` → ids (int64 array) and ``{}``: byte-level BPE knows every character."""
        ids = self._backend().encode(text).ids
        return np.asarray(ids, dtype=np.int64), {}

    def encode(self, text: str) -> torch.Tensor:
        """``text`` → LongTensor ``[len]``."""
        return torch.from_numpy(self.encode_array(text)[0])

    def token_bytes(self) -> list[int]:
        """UTF-8 bytes each id stands for (for bits per byte)."""
        return [len(b) for b in self.token_to_bytes]

    def decode(self, ids: torch.Tensor | list[int], unknown: Literal["error", "replace"] = "error") -> str:
        return self.decoder(unknown).decode(ids, final=True)

    def decoder(self, unknown: Literal["error", "replace"] = "error") -> TokenDecoder:
        return _BytesDecoder(self, unknown)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bpe", "tokenizer": self.spec}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BPETokenizer:
        if not isinstance(data, dict) or data.get("kind") != "bpe" or not isinstance(data.get("tokenizer"), dict):
            raise FastSNNError("a bpe tokenizer description is {'kind': 'bpe', 'tokenizer': <tokenizers JSON>}")
        return cls(data["tokenizer"])


class _BytesDecoder(TokenDecoder):
    """Ids → their bytes → text, a character split between calls kept whole (as the byte tokenizer)."""

    def __init__(self, tokenizer: BPETokenizer, unknown: Literal["error", "replace"] = "error") -> None:
        super().__init__(tokenizer, unknown)  # type: ignore[arg-type]
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def _known(self, ids: list[int], final: bool) -> str:
        table = self.tokenizer.token_to_bytes
        return self._utf8.decode(b"".join(table[v] for v in ids), final=final)
