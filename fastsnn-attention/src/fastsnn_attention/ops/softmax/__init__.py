"""Causal softmax attention: SDPA fast path and a naive reference."""

from fastsnn_attention.ops.softmax.naive import naive_softmax_attn
from fastsnn_attention.ops.softmax.parallel import causal_softmax_attn

__all__ = ["causal_softmax_attn", "naive_softmax_attn"]
