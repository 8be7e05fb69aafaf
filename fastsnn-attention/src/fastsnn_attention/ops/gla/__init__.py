"""Gated linear attention (SpikingBrain-7B's linear layers): chunked, recurrent, naive references."""

from fastsnn_attention.ops.gla.chunk import MIN_LOG_DECAY, SUBCHUNK, chunk_gla
from fastsnn_attention.ops.gla.naive import naive_parallel_gla, naive_recurrent_gla
from fastsnn_attention.ops.gla.recurrent import recurrent_gla

__all__ = ["MIN_LOG_DECAY", "SUBCHUNK", "chunk_gla", "naive_parallel_gla", "naive_recurrent_gla", "recurrent_gla"]
