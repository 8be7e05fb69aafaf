"""Causal softmax attention layer: RoPE, grouped-query heads, SDPA, growing KV cache."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from fastsnn.attention import LayerCache
from fastsnn_attention.layers.base import ProjectedAttention
from fastsnn_attention.ops.softmax import causal_softmax_attn
from fastsnn_attention.rope import RotaryEmbedding


class KVCache(LayerCache):
    """Keys and values of every token seen: ``keys [B, Hkv, capacity, D]``, ``values``; grows on demand.

    Capacity at least doubles when it grows (capped at ``max_seq_len``), so appending one token
    is amortised O(1); :meth:`reserve` allocates a known total at once (a prefill, ``generate``).
    :meth:`nbytes` counts the keys and values of the tokens seen (the state the sequence needs);
    :meth:`capacity_nbytes` what is allocated; :meth:`bytes_per_token` the growth per token.
    """

    def __init__(self, batch_size: int, owner: Any, keys: torch.Tensor, values: torch.Tensor,
                 max_len: int | None) -> None:
        super().__init__(batch_size, owner)
        self.keys, self.values, self.max_len = keys, values, max_len

    def nbytes(self) -> int:
        return self.bytes_per_token() * self.seen

    def bytes_per_token(self) -> int:
        """Keys and values of one more token, all sequences of the batch."""
        batch, heads, _, dim = self.keys.shape
        return 2 * batch * heads * dim * self.keys.element_size()

    def reserve(self, total_tokens: int) -> None:
        """Allocate room for ``total_tokens`` (capped at ``max_len``) now, keeping the tokens seen."""
        if self.max_len is not None:
            total_tokens = min(total_tokens, self.max_len)
        if total_tokens > self.keys.shape[2]:
            self._grow(total_tokens)

    def _grow(self, capacity: int) -> None:
        grown = [torch.zeros(*t.shape[:2], capacity, t.shape[3], device=t.device, dtype=t.dtype)
                 for t in (self.keys, self.values)]
        for new, old in zip(grown, (self.keys, self.values)):
            new[:, :, : self.seen] = old[:, :, : self.seen]
        self.keys, self.values = grown

    def capacity_nbytes(self) -> int:
        """Bytes allocated for keys and values (at least :meth:`nbytes`)."""
        return self.keys.numel() * self.keys.element_size() + self.values.numel() * self.values.element_size()

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add ``k, v [B, Hkv, T, D]`` after the ``seen`` tokens; return all keys/values so far (views)."""
        end = self.seen + k.shape[2]
        if end > self.keys.shape[2]:
            capacity = max(end, 2 * self.keys.shape[2])
            if self.max_len is not None:
                capacity = max(end, min(capacity, self.max_len))
            self._grow(capacity)
        self.keys[:, :, self.seen : end] = k.to(self.keys.dtype)
        self.values[:, :, self.seen : end] = v.to(self.values.dtype)
        return self.keys[:, :, :end], self.values[:, :, :end]


class SoftmaxAttention(ProjectedAttention):
    """Causal softmax attention (SDPA) with RoPE and grouped-query heads; the quadratic baseline."""

    kernel_name = "softmax"
    cache_class = KVCache
    needs_max_seq_len = "its KV cache keeps the keys and values of every token (max_seq_len is its budget)"

    class Params(ProjectedAttention.Params):
        rope_base: float = Field(10000.0, gt=0, description="RoPE frequency base")
        rope: bool = Field(True, description="rotary position embedding on q and k (false: no positions here, "
                           "e.g. a model with a learned position table such as GPT-2)")

    def __init__(self, d_model: int, n_heads: int, layer_idx: int = 0, max_seq_len: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(d_model, n_heads, layer_idx, max_seq_len, **kwargs)
        self.rope = RotaryEmbedding(self.heads.head_dim, self.params.rope_base) if self.params.rope else None

    def init_cache(self, batch_size: int, device: Any = None, dtype: torch.dtype | None = None) -> KVCache:
        h = self.heads
        empty = torch.zeros(batch_size, h.n_kv_heads, 0, h.head_dim, device=device, dtype=dtype or torch.float32)
        return KVCache(batch_size, self, empty, empty.clone(), self.max_seq_len)

    def mix(self, x: torch.Tensor, cache: KVCache | None, start: int) -> torch.Tensor:
        """``x [B, T, d_model]`` (positions ``start …``) → ``[B, T, d_model]``; a decoded token costs O(prefix)."""
        q, k, v = self.project_qkv(x)  # (B, H, T, D), (B, Hkv, T, D) ×2
        if self.rope is not None:
            q, k = self.rope(q, start), self.rope(k, start)
        if cache is not None:
            k, v = cache.append(k, v)  # (B, Hkv, start+T, D) ×2
            k, v = k.to(q.dtype), v.to(q.dtype)
        o = causal_softmax_attn(q, k, v, prefix_len=start)
        return self.o_proj(self.merge_heads(o))
