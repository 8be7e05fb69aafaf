"""Data: tokenizers (byte, char, BPE), text corpora from files/folders/globs tokenised once into
memory-mapped token files, and deterministic, resumable, shardable random windows."""

from fastsnn.data.bpe import BPETokenizer
from fastsnn.data.text import CharTokenizer, RandomWindows, TextDataset, TokenDecoder
from fastsnn.data.tokenizer import Tokenizer, tokenizer_from_dict

__all__ = ["BPETokenizer", "CharTokenizer", "RandomWindows", "TextDataset", "TokenDecoder", "Tokenizer",
           "tokenizer_from_dict"]
