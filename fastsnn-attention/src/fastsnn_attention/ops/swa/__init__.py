"""Sliding-window attention: blockwise training/prefill form, ring-buffer decoding, dense-mask reference."""

from fastsnn_attention.ops.swa.blockwise import blockwise_swa, default_block_size
from fastsnn_attention.ops.swa.naive import dense_mask_swa
from fastsnn_attention.ops.swa.recurrent import ring_swa_step

__all__ = ["blockwise_swa", "default_block_size", "dense_mask_swa", "ring_swa_step"]
