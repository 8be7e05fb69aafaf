"""Sliding-window attention layer: RoPE, blockwise training/prefill, ring-buffer decoding."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from fastsnn.attention import LayerCache
from fastsnn.quantize import quantize_rows
from fastsnn_attention.layers.base import ProjectedAttention
from fastsnn_attention.ops.swa import blockwise_swa, ring_swa_step
from fastsnn_attention.rope import RotaryEmbedding


class SlidingWindowCache(LayerCache):
    """Ring buffer of the last ``W`` keys/values: ``ring_k [B, Hkv, W, D]``, ``ring_v``; slot = position mod W."""

    def __init__(self, batch_size: int, owner: Any, ring_k: torch.Tensor, ring_v: torch.Tensor) -> None:
        super().__init__(batch_size, owner)
        self.ring_k, self.ring_v = ring_k, ring_v

    @property
    def window(self) -> int:
        return self.ring_k.shape[2]

    def history(self, n_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The last ``n_tokens ≤ min(seen, W)`` keys and values in position order: ``[B, Hkv, n, D]`` each."""
        slots = torch.arange(self.seen - n_tokens, self.seen, device=self.ring_k.device) % self.window
        return self.ring_k[:, :, slots], self.ring_v[:, :, slots]

    def ring(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole ring by slot, keys and values ``[B, Hkv, W, D]`` (as stored; ``dtype`` is for
        caches that must decode their storage, such as the int8 one)."""
        return self.ring_k, self.ring_v

    def write(self, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store the newest ``T`` keys/values ``[B, Hkv, T, D]`` (positions ``seen … seen+T−1``); only the last W matter."""
        keep = min(k.shape[2], self.window)
        positions = torch.arange(self.seen + k.shape[2] - keep, self.seen + k.shape[2], device=k.device)
        self.ring_k[:, :, positions % self.window] = k[:, :, -keep:].to(self.ring_k.dtype)
        self.ring_v[:, :, positions % self.window] = v[:, :, -keep:].to(self.ring_v.dtype)


class Int8SlidingWindowCache(SlidingWindowCache):
    """The ring in int8: ``ring_k``/``ring_v`` int8 ``[B, Hkv, W, D]`` with one float32 scale per
    token and head, ``scale_k``/``scale_v`` ``[B, Hkv, W, 1]`` (symmetric, see
    :func:`fastsnn.quantize.quantize_rows`: each stored value is within ``scale/2`` of the key or
    value written). Reads dequantise into the attention's dtype. Bytes per token and head:
    ``2·(D + 4)`` instead of ``2·4·D`` in fp32."""

    def __init__(self, batch_size: int, owner: Any, shape: tuple[int, ...], device: Any = None) -> None:
        super().__init__(batch_size, owner, torch.zeros(shape, device=device, dtype=torch.int8),
                         torch.zeros(shape, device=device, dtype=torch.int8))
        self.scale_k = torch.ones(*shape[:-1], 1, device=device)
        self.scale_v = torch.ones(*shape[:-1], 1, device=device)

    def history(self, n_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        slots = torch.arange(self.seen - n_tokens, self.seen, device=self.ring_k.device) % self.window
        return (self.ring_k[:, :, slots].float() * self.scale_k[:, :, slots],
                self.ring_v[:, :, slots].float() * self.scale_v[:, :, slots])

    def ring(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ring_k.to(dtype) * self.scale_k.to(dtype), self.ring_v.to(dtype) * self.scale_v.to(dtype)

    def write(self, k: torch.Tensor, v: torch.Tensor) -> None:
        keep = min(k.shape[2], self.window)
        slots = torch.arange(self.seen + k.shape[2] - keep, self.seen + k.shape[2], device=k.device) % self.window
        for ring, scales, new in ((self.ring_k, self.scale_k, k), (self.ring_v, self.scale_v, v)):
            q, scale = quantize_rows(new[:, :, -keep:])  # (B, Hkv, keep, D), (B, Hkv, keep, 1)
            ring[:, :, slots] = q
            scales[:, :, slots] = scale


class SlidingWindowAttention(ProjectedAttention):
    """Causal softmax attention over the last ``window`` tokens (including the current one), with RoPE."""

    kernel_name = "swa"
    cache_class = SlidingWindowCache
    #: the decoding cache can be kept in int8 (``fastsnn.quantize.quantize_model(model, kv_cache="int8")``)
    kv_cache_formats = ("float", "int8")
    kv_cache_format = "float"

    class Params(ProjectedAttention.Params):
        window: int = Field(512, gt=0, description="W: keys per query, including the query's own token")
        rope_base: float = Field(10000.0, gt=0, description="RoPE frequency base")
        rope: bool = Field(True, description="rotary position embedding on q and k (false: no positions here, "
                           "e.g. a model with a learned position table such as GPT-2)")
        block_size: int | None = Field(None, gt=0, description="queries per block of the blockwise form (default max(64, W/4))")

    def __init__(self, d_model: int, n_heads: int, layer_idx: int = 0, max_seq_len: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(d_model, n_heads, layer_idx, max_seq_len, **kwargs)
        self.rope = RotaryEmbedding(self.heads.head_dim, self.params.rope_base) if self.params.rope else None

    def init_cache(self, batch_size: int, device: Any = None, dtype: torch.dtype | None = None) -> SlidingWindowCache:
        h = self.heads
        shape = (batch_size, h.n_kv_heads, self.params.window, h.head_dim)
        if self.kv_cache_format == "int8":
            return Int8SlidingWindowCache(batch_size, self, shape, device)
        dtype = dtype or torch.float32
        return SlidingWindowCache(batch_size, self, torch.zeros(shape, device=device, dtype=dtype),
                                  torch.zeros(shape, device=device, dtype=dtype))

    def mix(self, x: torch.Tensor, cache: SlidingWindowCache | None, start: int) -> torch.Tensor:
        """``x [B, T, d_model]`` (positions ``start …``) → ``[B, T, d_model]``; O(T·W) memory, O(W) per decoded token."""
        window, block_size = self.params.window, self.params.block_size
        q, k, v = self.project_qkv(x)  # (B, H, T, D), (B, Hkv, T, D) ×2
        if self.rope is not None:
            q, k = self.rope(q, start), self.rope(k, start)
        if cache is None:
            o = blockwise_swa(q, k, v, window, block_size=block_size)
        elif x.shape[1] == 1:
            cache.write(k, v)
            o = ring_swa_step(q, *cache.ring(q.dtype), min(start + 1, window))
        else:
            prefix = min(start, window - 1)
            past_k, past_v = cache.history(prefix)  # (B, Hkv, prefix, D) ×2
            o = blockwise_swa(q, torch.cat([past_k.to(k.dtype), k], 2), torch.cat([past_v.to(v.dtype), v], 2),
                              window, block_size=block_size, prefix_len=prefix)
            cache.write(k, v)
        return self.o_proj(self.merge_heads(o))
