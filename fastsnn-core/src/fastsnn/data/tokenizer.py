"""Tokenizers by name and from their JSON description: ``byte``, ``char`` and ``bpe``.

=========  ======================================================================================
``byte``   256 ids, one per UTF-8 byte; reads anything (also binary files). The default.
``char``   one id per distinct character of the training text (vocabulary = those characters).
``bpe``    byte-level BPE trained on the training text (``pip install "fastsnn-core[bpe]"``).
=========  ======================================================================================
"""

from __future__ import annotations

from typing import Any, Union

from fastsnn.data.bpe import BPETokenizer
from fastsnn.data.text import CharTokenizer
from fastsnn.errors import FastSNNError

Tokenizer = Union[CharTokenizer, BPETokenizer]
KINDS = ("byte", "char", "bpe")


def tokenizer_from_dict(data: Any) -> Tokenizer:
    """The tokenizer a ``tokenizer.json`` describes (``{"kind": "byte" | "char" | "bpe", ...}``)."""
    if isinstance(data, dict) and data.get("kind") == "bpe":
        return BPETokenizer.from_dict(data)
    if isinstance(data, dict) and data.get("kind") not in (*KINDS, None):
        raise FastSNNError(f"unknown tokenizer kind {data.get('kind')!r}; FastSNN knows {', '.join(KINDS)}")
    return CharTokenizer.from_dict(data)
