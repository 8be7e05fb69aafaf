"""Parallel hybrid (SpikingBrain-76B style): a linear and a sliding-window mixer in one layer.

Both branches see the same input; each output is RMS-normalised (so neither dominates by
scale), then they are mixed: ``mix='sum'`` adds the two normalised outputs (their RMSNorm
gains, initialised to 1/2, are the learned mixing weights); ``mix='concat'`` concatenates them
and projects ``2·d_model → d_model``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from fastsnn import Params, RMSNorm, build_ref
from fastsnn.attention import AttentionBase, LayerCache
from fastsnn.config.refs import AttentionRef


class HybridParallelCache(LayerCache):
    """The two branches' caches side by side."""

    def __init__(self, batch_size: int, owner: Any, linear: LayerCache, swa: LayerCache) -> None:
        super().__init__(batch_size, owner)
        self.linear, self.swa = linear, swa

    def nbytes(self) -> int:
        return self.linear.nbytes() + self.swa.nbytes()

    def bytes_per_token(self) -> int:
        return self.linear.bytes_per_token() + self.swa.bytes_per_token()

    def reserve(self, total_tokens: int) -> None:
        self.linear.reserve(total_tokens)
        self.swa.reserve(total_tokens)


class HybridParallelAttention(AttentionBase):
    """Linear attention and SWA in parallel in one layer, each normalised, then mixed (SpikingBrain-76B)."""

    cache_class = HybridParallelCache

    class Params(Params):
        linear: AttentionRef = Field("linear", validate_default=True, description="the global, constant-state branch (e.g. linear, gla)")
        swa: AttentionRef = Field("swa", validate_default=True, description="the local branch (e.g. {name = 'swa', window = 512})")
        mix: Literal["sum", "concat"] = Field("sum", description="how the normalised branch outputs are combined")
        norm_eps: float = Field(1e-6, gt=0, description="eps of the branch RMSNorms")

    def __init__(self, d_model: int, n_heads: int, layer_idx: int = 0, max_seq_len: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(d_model, n_heads, layer_idx, max_seq_len, **kwargs)
        p = self.params
        context = {"d_model": d_model, "n_heads": n_heads, "layer_idx": layer_idx, "max_seq_len": max_seq_len}
        self.linear_branch = build_ref("attention", p.linear, **context)
        self.swa_branch = build_ref("attention", p.swa, **context)
        gain = 0.5 if p.mix == "sum" else 1.0
        self.linear_norm = RMSNorm(d_model, eps=p.norm_eps, init=gain)
        self.swa_norm = RMSNorm(d_model, eps=p.norm_eps, init=gain)
        self.mix_proj = nn.Linear(2 * d_model, d_model, bias=False) if p.mix == "concat" else None

    def init_cache(self, batch_size: int, device: Any = None, dtype: torch.dtype | None = None) -> HybridParallelCache:
        return HybridParallelCache(batch_size, self, self.linear_branch.init_cache(batch_size, device, dtype),
                                   self.swa_branch.init_cache(batch_size, device, dtype))

    def mix(self, x: torch.Tensor, cache: HybridParallelCache | None, start: int) -> torch.Tensor:
        """``x [B, T, d_model]`` → ``[B, T, d_model]``.

        Each branch is called through its own ``forward``, which checks and advances its own cache
        (``cache.linear``, ``cache.swa``) once; this layer's ``forward`` advances ``cache.seen``.
        """
        a = self.linear_norm(self.linear_branch(x, None if cache is None else cache.linear))
        b = self.swa_norm(self.swa_branch(x, None if cache is None else cache.swa))
        if self.mix_proj is None:
            return a + b
        return self.mix_proj(torch.cat([a, b], dim=-1))
