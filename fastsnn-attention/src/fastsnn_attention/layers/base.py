"""What the attention layers share: head layout, q/k/v/o projections, head reshapes."""

from __future__ import annotations

from typing import Any, Callable

import torch
from pydantic import Field
from torch import nn

from fastsnn import Params
from fastsnn.attention import AttentionBase
from fastsnn_attention.heads import HeadLayout


class ProjectedAttention(AttentionBase):
    """An :class:`~fastsnn.AttentionBase` with ``q_proj``, ``k_proj``, ``v_proj`` and ``o_proj``.

    ``q`` has ``n_heads`` heads, ``k`` and ``v`` have ``n_kv_heads`` (grouped-query attention).
    Subclasses extend :class:`ProjectedAttention.Params` (so ``n_kv_heads`` is declared here once)
    and implement ``mix`` and ``init_cache``.
    """

    #: registry name, used in error messages
    kernel_name = "attention"

    class Params(Params):
        n_kv_heads: int | None = Field(None, gt=0, description="key/value heads (grouped-query); default n_heads")
        qkv_bias: bool = Field(False, description="biases in the q, k and v projections (Qwen2, GPT-2)")
        out_bias: bool = Field(False, description="a bias in the output projection (GPT-2)")

    def __init__(self, d_model: int, n_heads: int, layer_idx: int = 0, max_seq_len: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(d_model, n_heads, layer_idx, max_seq_len, **kwargs)
        self.heads = HeadLayout.resolve(self.kernel_name, d_model, n_heads, self.params.n_kv_heads, layer_idx)
        inner, kv_inner = self.heads.n_heads * self.heads.head_dim, self.heads.n_kv_heads * self.heads.head_dim
        qkv_bias = self.params.qkv_bias
        self.q_proj = nn.Linear(d_model, inner, bias=qkv_bias)
        self.k_proj = nn.Linear(d_model, kv_inner, bias=qkv_bias)
        self.v_proj = nn.Linear(d_model, kv_inner, bias=qkv_bias)
        self.o_proj = nn.Linear(inner, d_model, bias=self.params.out_bias)

    def split_heads(self, x: torch.Tensor, n_heads: int) -> torch.Tensor:
        """``[B, T, H·D]`` → ``[B, H, T, D]``."""
        batch, time, _ = x.shape
        return x.view(batch, time, n_heads, self.heads.head_dim).transpose(1, 2)

    def project_qkv(
        self, x: torch.Tensor, qk_map: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x [B, T, d_model]`` → ``q [B, H, T, D]``, ``k [B, Hkv, T, D]``, ``v [B, Hkv, T, D]``.

        ``qk_map`` (an elementwise feature map) is applied to q and k while they are still
        contiguous ``[B, T, H·D]``, which is cheaper than on the per-head views.
        """
        q, k = self.q_proj(x), self.k_proj(x)
        if qk_map is not None:
            q, k = qk_map(q), qk_map(k)
        return (
            self.split_heads(q, self.heads.n_heads),
            self.split_heads(k, self.heads.n_kv_heads),
            self.split_heads(self.v_proj(x), self.heads.n_kv_heads),
        )

    def merge_heads(self, o: torch.Tensor) -> torch.Tensor:
        """``[B, H, T, D]`` → ``[B, T, H·D]`` (before ``o_proj``)."""
        return o.transpose(1, 2).flatten(2)

    def extra_repr(self) -> str:
        h = self.heads
        own = {k: v for k, v in self.params.model_dump().items()  # biases shown only when on
               if k != "n_kv_heads" and not (k in ("qkv_bias", "out_bias") and not v)}
        text = f"layer={self.layer_idx}, heads={h.n_heads}, kv_heads={h.n_kv_heads}, head_dim={h.head_dim}"
        return ", ".join([text, *(f"{k}={v!r}" for k, v in own.items())])
