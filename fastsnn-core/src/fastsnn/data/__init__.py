"""Data helpers: a character/byte-level text dataset with random training windows."""

from fastsnn.data.text import CharTokenizer, RandomWindows, TextDataset, TokenDecoder

__all__ = ["CharTokenizer", "RandomWindows", "TextDataset", "TokenDecoder"]
