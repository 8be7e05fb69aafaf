"""How a layer splits ``d_model`` into query heads and (grouped) key/value heads."""

from __future__ import annotations

from dataclasses import dataclass

from fastsnn.errors import FastSNNError


@dataclass(frozen=True)
class HeadLayout:
    """``n_heads`` query heads of ``head_dim`` channels; ``n_kv_heads`` key/value heads (GQA)."""

    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int

    @property
    def groups(self) -> int:
        """Query heads per key/value head."""
        return self.n_heads // self.n_kv_heads

    @classmethod
    def resolve(cls, kernel: str, d_model: int, n_heads: int, n_kv_heads: int | None, layer_idx: int) -> HeadLayout:
        """Validate the head counts for layer ``layer_idx`` of kind ``kernel``; errors say how to fix them."""
        where = f"{kernel} attention (layer {layer_idx})"
        if d_model <= 0 or n_heads <= 0:
            raise FastSNNError(f"{where}: d_model and n_heads must be positive, got {d_model} and {n_heads}")
        if d_model % n_heads:
            raise FastSNNError(
                f"{where}: n_heads={n_heads} does not divide d_model={d_model}; pick n_heads among "
                f"{[h for h in range(1, min(d_model, 64) + 1) if d_model % h == 0]}"
            )
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if n_kv_heads <= 0 or n_heads % n_kv_heads:
            raise FastSNNError(
                f"{where}: n_kv_heads={n_kv_heads} does not divide n_heads={n_heads}; pick one of "
                f"{[h for h in range(1, n_heads + 1) if n_heads % h == 0]}"
            )
        return cls(d_model, n_heads, n_kv_heads, d_model // n_heads)
