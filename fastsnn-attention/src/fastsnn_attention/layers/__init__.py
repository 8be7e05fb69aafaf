"""``nn.Module`` attention layers: projections, norms and caches around the pure ops."""

from fastsnn_attention.layers.gla import GatedLinearAttention, GLACache
from fastsnn_attention.layers.hybrid_par import HybridParallelAttention, HybridParallelCache
from fastsnn_attention.layers.linear import LinearAttention, LinearAttentionCache
from fastsnn_attention.layers.softmax import KVCache, SoftmaxAttention
from fastsnn_attention.layers.swa import SlidingWindowAttention, SlidingWindowCache

__all__ = [
    "GLACache",
    "GatedLinearAttention",
    "HybridParallelAttention",
    "HybridParallelCache",
    "KVCache",
    "LinearAttention",
    "LinearAttentionCache",
    "SlidingWindowAttention",
    "SlidingWindowCache",
    "SoftmaxAttention",
]
