"""Benchmarks registered as ``fastsnn bench attention``, ``fastsnn bench model`` and ``fastsnn bench longctx``."""

from fastsnn_attention.benchmarks.attention import AttentionBenchmark
from fastsnn_attention.benchmarks.longctx import LongContextBenchmark
from fastsnn_attention.benchmarks.model import ModelBenchmark

__all__ = ["AttentionBenchmark", "LongContextBenchmark", "ModelBenchmark"]
