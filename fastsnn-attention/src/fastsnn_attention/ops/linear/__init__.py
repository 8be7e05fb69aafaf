"""Linear attention: chunkwise-parallel training form, recurrent decoding form, naive references."""

from fastsnn_attention.ops.linear.chunk import chunk_linear_attn
from fastsnn_attention.ops.linear.naive import naive_parallel_linear_attn, naive_recurrent_linear_attn
from fastsnn_attention.ops.linear.recurrent import recurrent_linear_attn
from fastsnn_attention.ops.linear.state import LinearAttentionState

__all__ = [
    "LinearAttentionState",
    "chunk_linear_attn",
    "naive_parallel_linear_attn",
    "naive_recurrent_linear_attn",
    "recurrent_linear_attn",
]
