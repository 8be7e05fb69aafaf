"""Gated linear attention (SpikingBrain-7B's linear layers): ReLU q/k, low-rank data-dependent decay.

Per key/value head: ``S_t = diag(α_t) S_{t−1} + k_tᵀ v_t``, ``o_t = RMSNorm(q_t S_t)`` with
``log α_t = max(logsigmoid(W_up W_down x_t + b) / τ, g_min)`` (``τ`` the gate normaliser).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn import functional as F

from fastsnn import RMSNorm
from fastsnn.attention import LayerCache
from fastsnn_attention.layers.base import ProjectedAttention
from fastsnn_attention.ops.gla import MIN_LOG_DECAY, SUBCHUNK, chunk_gla, recurrent_gla


class GLACache(LayerCache):
    """O(1)-size decoding state ``state [B, Hkv, D, D]`` (fp32)."""

    def __init__(self, batch_size: int, owner: Any, state: torch.Tensor) -> None:
        super().__init__(batch_size, owner)
        self.state = state


class GatedLinearAttention(ProjectedAttention):
    """SpikingBrain-7B gated linear attention: ReLU features, low-rank decay gate, per-head RMSNorm, GQA."""

    kernel_name = "gla"
    cache_class = GLACache

    class Params(ProjectedAttention.Params):
        gate_rank: int = Field(16, gt=0, description="rank of the low-rank decay-gate projection")
        gate_normalizer: float = Field(16.0, gt=0, description="τ: log decay = logsigmoid(gate) / τ")
        min_log_decay: float = Field(
            MIN_LOG_DECAY, ge=MIN_LOG_DECAY, lt=0,
            description=f"clamp of the log decay per step (≥ {MIN_LOG_DECAY}, keeps the chunked form in fp32 range)")
        chunk_size: int = Field(64, gt=0, description=f"tokens per chunk (≤ {SUBCHUNK} or a multiple of it)")
        output_gate: bool = Field(True, description="multiply the normalised output by silu(W_g x)")
        norm_eps: float = Field(1e-5, gt=0, description="eps of the per-head output RMSNorm")

        @model_validator(mode="after")
        def _chunk_fits_subchunks(self) -> GatedLinearAttention.Params:
            if self.chunk_size > SUBCHUNK and self.chunk_size % SUBCHUNK:
                raise ValueError(f"chunk_size must be <= {SUBCHUNK} or a multiple of {SUBCHUNK}, got {self.chunk_size}")
            return self

    def __init__(self, d_model: int, n_heads: int, layer_idx: int = 0, max_seq_len: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(d_model, n_heads, layer_idx, max_seq_len, **kwargs)
        p, h = self.params, self.heads
        self.gate_down = nn.Linear(d_model, p.gate_rank, bias=False)
        self.gate_up = nn.Linear(p.gate_rank, h.n_kv_heads * h.head_dim, bias=True)
        self.out_norm = RMSNorm(h.head_dim, eps=p.norm_eps)
        self.out_gate = nn.Linear(d_model, h.n_heads * h.head_dim, bias=False) if p.output_gate else None

    def log_decay(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, T, d_model]`` → log decays ``[B, Hkv, T, D]`` in ``[min_log_decay, 0)``."""
        gate = F.logsigmoid(self.gate_up(self.gate_down(x)).float()) / self.params.gate_normalizer
        return self.split_heads(gate.clamp_min(self.params.min_log_decay), self.heads.n_kv_heads)

    def init_cache(self, batch_size: int, device: Any = None, dtype: torch.dtype | None = None) -> GLACache:
        h = self.heads
        state = torch.zeros(batch_size, h.n_kv_heads, h.head_dim, h.head_dim, device=device, dtype=torch.float32)
        return GLACache(batch_size, self, state)

    def mix(self, x: torch.Tensor, cache: GLACache | None, start: int) -> torch.Tensor:
        """``x [B, T, d_model]`` → ``[B, T, d_model]``; with a cache, one token costs O(1) in the prefix."""
        q, k, v = self.project_qkv(x, qk_map=F.relu)  # relu(q) (B, H, T, D), relu(k), v (B, Hkv, T, D)
        q = q.float()  # o in fp32 (the kernels' own precision): q·S outgrows fp16 before out_norm
        g = self.log_decay(x)  # (B, Hkv, T, D)
        if cache is not None and x.shape[1] == 1:
            o, cache.state = recurrent_gla(q, k, v, g, initial_state=cache.state)
        else:
            o, final = chunk_gla(q, k, v, g, chunk_size=self.params.chunk_size, output_final_state=cache is not None,
                                 initial_state=None if cache is None else cache.state)
            if cache is not None:
                cache.state = final
        o = self.merge_heads(self.out_norm(o).to(x.dtype))  # (B, T, H·D)
        if self.out_gate is not None:
            o = o * F.silu(self.out_gate(x))
        return self.o_proj(o)
