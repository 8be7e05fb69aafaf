"""A Hugging Face model's tokenizer → FastSNN's ``bpe`` tokenizer, so a converted model keeps its text interface.

The converted :class:`~fastsnn.SpikingLM` reuses the source model's embedding rows, so it must read
the same ids. FastSNN's :class:`~fastsnn.data.bpe.BPETokenizer` stores a ``tokenizers`` JSON whole
and encodes with it; decoding needs only the id → bytes table it derives (byte-level BPE as GPT-2,
Qwen2 and Llama 3, or SentencePiece-style BPE with byte fallback as Llama 2 and Mistral; see
:func:`fastsnn.data.bpe.token_byte_table`). Encoding with a converted tokenizer gives exactly the ids of the
Hugging Face tokenizer's default call (``tokenizer(text)``: its post-processor runs, so Llama's
``<s>`` comes first and GPT-2/Qwen2 add nothing); decoding drops special tokens
(``skip_special_tokens=True``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastsnn.data.bpe import BPETokenizer
from fastsnn.errors import FastSNNError
from fastsnn.safe_io import read_json


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        return read_json(path)
    except FastSNNError as err:
        raise FastSNNError(f"{path} is not a readable tokenizers JSON ({err})") from None


def _spec_from_folder(folder: Path) -> dict[str, Any]:
    path = folder / "tokenizer.json"
    if path.is_file():
        return _read_spec(path)
    # a folder with only the slow files (vocab.json + merges.txt, tokenizer.model): transformers converts
    from fastsnn_convert.hf.lazy import require_transformers

    transformers = require_transformers()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True, use_fast=True)
    except Exception as err:  # transformers raises OSError/ValueError/ImportError here
        raise FastSNNError(f"{folder} has no tokenizer.json and transformers could not load a tokenizer from it "
                           f"({type(err).__name__}: {err})") from None
    return _spec_from_object(tokenizer, str(folder))


def _spec_from_object(tokenizer: Any, where: str) -> dict[str, Any]:
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)  # PreTrainedTokenizerFast → tokenizers.Tokenizer
    to_str = getattr(backend, "to_str", None)
    if to_str is None:
        raise FastSNNError(f"{where}: a {type(tokenizer).__name__} is not a fast (tokenizers) tokenizer; "
                           "pass a folder with tokenizer.json, a tokenizers.Tokenizer or a PreTrainedTokenizerFast")
    return json.loads(to_str())


def convert_tokenizer(source: Any) -> BPETokenizer:
    """FastSNN's tokenizer for a Hugging Face tokenizer.

    :param source: a model folder (its ``tokenizer.json``; without one, ``transformers`` converts the
        slow files), a path to a ``tokenizer.json``, a ``tokenizers.Tokenizer`` or a
        ``transformers`` fast tokenizer.
    :returns: a :class:`~fastsnn.data.bpe.BPETokenizer` (kind ``"bpe"``) with the same ids; store it
        with ``model.save_pretrained(folder, tokenizer=tok.to_dict())``.
    :raises FastSNNError: nothing readable there, or a tokenizer FastSNN cannot decode (not BPE:
        WordPiece/Unigram), each naming the source.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            spec, where = _spec_from_folder(path), str(path)
        elif path.is_file():
            spec, where = _read_spec(path), str(path)
        else:
            raise FastSNNError(f"tokenizer source {path} not found")
    else:
        where = type(source).__name__
        spec = _spec_from_object(source, where)
    try:
        return BPETokenizer(spec)
    except FastSNNError as err:
        raise FastSNNError(f"{where}: {err}") from None
