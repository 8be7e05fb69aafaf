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


def _components(node: Any, kind: str) -> list[dict[str, Any]]:
    """Every component of ``node`` (a ``tokenizers`` pre-tokenizer/decoder/normalizer, possibly a
    ``Sequence``) whose ``type`` is ``kind``."""
    if not isinstance(node, dict):
        return []
    found = [node] if node.get("type") == kind else []
    for key in ("pretokenizers", "decoders", "normalizers"):
        for child in node.get(key) or []:
            found += _components(child, kind)
    return found


def token_byte_table(spec: dict[str, Any]) -> list[bytes]:
    """The bytes each id of a ``tokenizers`` BPE JSON stands for, index = id.

    Two families are understood, which covers the BPE tokenizers of GPT-2, Llama 3, Qwen2 and
    FastSNN's own (byte-level: every character of a token is one byte in GPT-2's printable
    alphabet, :func:`byte_alphabet`) and of Llama 2 / Mistral (SentencePiece style: ``▁`` is a
    space, ``<0xNN>`` is byte NN when the model has ``byte_fallback``, anything else is its UTF-8).
    Special added tokens (``<s>``, ``<|endoftext|>``, …) stand for no text: ``b""``.

    :raises FastSNNError: not a BPE model, no vocabulary, or a byte-level token outside the alphabet.
    """
    model = spec.get("model") if isinstance(spec, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("vocab"), dict):
        raise FastSNNError("a bpe tokenizer description needs the tokenizers JSON with model.vocab")
    if model.get("type", "BPE") != "BPE":
        raise FastSNNError(f"the tokenizer's model is {model.get('type')!r}; FastSNN reads BPE tokenizers "
                           "(byte-level as GPT-2/Qwen2/Llama 3, or SentencePiece-style as Llama 2/Mistral)")
    vocab: dict[str, int] = model["vocab"]
    added = [t for t in spec.get("added_tokens") or [] if isinstance(t, dict) and "id" in t]
    size = max([*vocab.values(), *(int(t["id"]) for t in added)], default=-1) + 1
    table: list[bytes] = [b""] * size
    byte_level = any(_components(spec.get(part), "ByteLevel") for part in ("pre_tokenizer", "decoder"))
    if byte_level:
        alphabet = byte_alphabet()
        for token, index in vocab.items():
            try:
                table[index] = bytes(alphabet[c] for c in token)
            except KeyError:
                raise FastSNNError(f"bpe token {token!r} (id {index}) is not in the byte-level alphabet of a "
                                   "ByteLevel tokenizer; the tokenizer JSON is inconsistent") from None
    else:
        byte_fallback = bool(model.get("byte_fallback"))
        for token, index in vocab.items():
            if byte_fallback and len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
                table[index] = bytes([int(token[3:5], 16)])
            else:
                table[index] = token.replace("\u2581", " ").encode("utf-8")
    for token in added:
        table[int(token["id"])] = b"" if token.get("special") else str(token.get("content", "")).encode("utf-8")
    return table


def strips_leading_space(spec: dict[str, Any]) -> bool:
    """Whether decoding drops the space a SentencePiece-style tokenizer put before the text (a
    ``Strip`` decoder with ``start ≥ 1``, or a ``Metaspace`` decoder that prepends ``▁``), as
    ``tokenizers`` does when it decodes a whole sequence."""
    decoder = spec.get("decoder") if isinstance(spec, dict) else None
    if any(int(d.get("start", 0)) >= 1 and d.get("content", " ") == " " for d in _components(decoder, "Strip")):
        return True
    return any(d.get("prepend_scheme", "always") in ("always", "first") and d.get("add_prefix_space", True)
               for d in _components(decoder, "Metaspace"))


class BPETokenizer:
    """BPE over bytes: text → ids of learned byte sequences (see the module docstring).

    ``kind`` is ``"bpe"``; :meth:`to_dict` / :meth:`from_dict` store the whole ``tokenizers``
    JSON, so a run folder carries its tokenizer. FastSNN trains byte-level ones
    (:meth:`train`); a Hugging Face model's ``tokenizer.json`` (GPT-2, Qwen2, Llama, Mistral) is
    read as is (``fastsnn_convert.hf.convert_tokenizer``), see :func:`token_byte_table`.
    """

    kind = "bpe"

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.token_to_bytes = token_byte_table(spec)
        self.strips_leading_space = strips_leading_space(spec)
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

    def encode_array(self, text: str, unknown: Literal["error", "skip"] = "error", *,
                     add_special_tokens: bool = False) -> tuple[np.ndarray, dict[str, int]]:
        """``text`` → ids (int64 array) and ``{}``: a BPE over bytes knows every character.

        This is how corpora are tokenised, piece by piece, so by default the tokenizer's
        post-processor does not run (a Llama-style ``<s>`` would otherwise start every piece).
        """
        ids = self._backend().encode(text, add_special_tokens=add_special_tokens).ids
        return np.asarray(ids, dtype=np.int64), {}

    def encode(self, text: str) -> torch.Tensor:
        """``text`` → LongTensor ``[len]``, as the tokenizer encodes one text (its post-processor
        included: a converted Llama tokenizer puts ``<s>`` first, as Hugging Face's does)."""
        return torch.from_numpy(self.encode_array(text, add_special_tokens=True)[0])

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
        self._at_start = tokenizer.strips_leading_space  # drop the prepended space of the first text

    def _known(self, ids: list[int], final: bool) -> str:
        table = self.tokenizer.token_to_bytes
        text = self._utf8.decode(b"".join(table[v] for v in ids), final=final)
        if self._at_start and text:
            self._at_start = False
            text = text[1:] if text.startswith(" ") else text
        return text
