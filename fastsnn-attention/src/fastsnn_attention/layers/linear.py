"""Linear attention layer: ``o_t = φ(q_t) S_t`` with ``S_t = Σ_{s≤t} φ(k_s)ᵀ v_s``."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from fastsnn import RMSNorm, build_ref
from fastsnn.attention import LayerCache
from fastsnn.config.refs import ref_type
from fastsnn_attention.feature_maps import FeatureMap
from fastsnn_attention.layers.base import ProjectedAttention
from fastsnn_attention.ops.linear import LinearAttentionState, chunk_linear_attn, recurrent_linear_attn


class LinearAttentionCache(LayerCache):
    """O(1)-size decoding state: ``kv [B, Hkv, D, D]`` and, with ``norm='z'``, ``z [B, Hkv, D]`` (fp32)."""

    def __init__(self, batch_size: int, owner: Any, state: LinearAttentionState) -> None:
        super().__init__(batch_size, owner)
        self.kv, self.z = state.kv, state.z

    @property
    def state(self) -> LinearAttentionState:
        return LinearAttentionState(self.kv, self.z)


class LinearAttention(ProjectedAttention):
    """Linear attention with a non-negative feature map, chunkwise-parallel training, O(1) decoding."""

    kernel_name = "linear"
    cache_class = LinearAttentionCache

    class Params(ProjectedAttention.Params):
        feature_map: ref_type("feature_map") = Field(  # type: ignore[valid-type]
            "relu", validate_default=True,
            description="φ applied to q and k: a feature_map component (relu, elu1, softplus, relu2, identity, or "
            "one a plugin adds: `fastsnn list feature_map`), by name or as {name = ..., param = ...}")
        norm: Literal["z", "rmsnorm", "none"] = Field(
            "z", description="'z': divide by φ(q)·Σφ(k) (needs a non-negative φ); 'rmsnorm': per-head RMSNorm "
            "of the output instead; 'none': raw sums")
        chunk_size: int = Field(64, gt=0, description="tokens per chunk of the chunkwise-parallel form")
        eps: float = Field(1e-6, gt=0, description="added to the z denominator / RMSNorm mean square")

        @model_validator(mode="after")
        def _z_needs_nonnegative(self) -> LinearAttention.Params:
            # built here (feature maps are small) so a map whose sign depends on its params is judged right
            if self.norm == "z" and not getattr(build_ref("feature_map", self.feature_map), "nonnegative", False):
                name = getattr(self.feature_map, "name", self.feature_map)
                raise ValueError(
                    f"norm='z' divides by φ(q)·Σφ(k), which is only a valid weight sum for non-negative "
                    f"features, but feature map {name!r} can be negative; use norm='rmsnorm' or "
                    "'none', or a non-negative feature map such as 'relu' or 'elu1'"
                )
            return self

    def __init__(self, d_model: int, n_heads: int, layer_idx: int = 0, max_seq_len: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(d_model, n_heads, layer_idx, max_seq_len, **kwargs)
        p = self.params
        self.feature_map: FeatureMap = build_ref("feature_map", p.feature_map)
        self.out_norm = RMSNorm(self.heads.head_dim, eps=p.eps) if p.norm == "rmsnorm" else None

    def init_cache(self, batch_size: int, device: Any = None, dtype: torch.dtype | None = None) -> LinearAttentionCache:
        h = self.heads
        state = LinearAttentionState.zeros(batch_size, h.n_kv_heads, h.head_dim, h.head_dim,
                                           normalize=self.params.norm == "z", device=device)
        return LinearAttentionCache(batch_size, self, state)

    def mix(self, x: torch.Tensor, cache: LinearAttentionCache | None, start: int) -> torch.Tensor:
        """``x [B, T, d_model]`` → ``[B, T, d_model]``; with a cache, one token costs O(1) in the prefix."""
        chunk_size, eps = self.params.chunk_size, self.params.eps
        # φ, the sums and the normalisers in fp32, the kernels' own precision (so no extra pass), with
        # one cast back at the end: in fp16 φ = relu² overflows from |q| > 256, and the raw sums
        # that norm='rmsnorm' normalises outgrow 65,504 long before the norm would bring them back.
        # φ(q) (B, H, T, D), φ(k) (B, Hkv, T, D) in fp32; v (B, Hkv, T, D)
        q, k, v = self.project_qkv(x, qk_map=lambda t: self.feature_map(t.float()))
        normalize = self.params.norm == "z"
        if cache is None:
            o, _ = chunk_linear_attn(q, k, v, normalize=normalize, chunk_size=chunk_size, eps=eps)
        elif x.shape[1] == 1:
            o, state = recurrent_linear_attn(q, k, v, normalize=normalize, initial_state=cache.state, eps=eps)
            cache.kv, cache.z = state.kv, state.z
        else:
            o, state = chunk_linear_attn(q, k, v, normalize=normalize, chunk_size=chunk_size, eps=eps,
                                         initial_state=cache.state, output_final_state=True)
            # dense copies (the chunked form returns views; the state is small): the state then has the
            # layout a decode step leaves, so a compiled decoder's guards hold from the first step
            cache.kv = state.kv.contiguous()
            cache.z = None if state.z is None else state.z.contiguous()
        if self.out_norm is not None:
            o = self.out_norm(o)
        return self.o_proj(self.merge_heads(o.to(x.dtype)))
