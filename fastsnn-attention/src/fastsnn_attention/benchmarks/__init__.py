"""Benchmarks registered as ``fastsnn bench attention`` and ``fastsnn bench model``."""

from fastsnn_attention.benchmarks.attention import AttentionBenchmark
from fastsnn_attention.benchmarks.model import ModelBenchmark

__all__ = ["AttentionBenchmark", "ModelBenchmark"]
