"""Decoding cache of a whole model: one LayerCache per block, plus who owns it."""

from __future__ import annotations

from dataclasses import dataclass

from fastsnn.attention import LayerCache
from fastsnn.errors import FastSNNError


@dataclass
class ModelCache:
    """What :meth:`SpikingLM.init_cache` returns and ``model(ids, cache=...)`` advances."""

    layers: list[LayerCache]
    batch_size: int
    owner_id: int
    seen: int = 0

    def check(self, owner_id: int, batch_size: int) -> None:
        """Refuse a cache of another model or batch size (the length is the model's to check)."""
        if owner_id != self.owner_id:
            raise FastSNNError("this cache was made by another model; call model.init_cache(batch_size) on this model")
        if batch_size != self.batch_size:
            raise FastSNNError(
                f"cache was made for batch size {self.batch_size} but input has batch size {batch_size}; "
                f"call model.init_cache({batch_size})"
            )

    def nbytes(self) -> int:
        """Bytes of state held for this batch (all layers)."""
        return sum(layer.nbytes() for layer in self.layers)

    def bytes_per_token(self) -> int:
        """Bytes the cache grows by per token consumed (``0`` when every layer's state is constant-size;
        softmax layers add their keys and values)."""
        return sum(layer.bytes_per_token() for layer in self.layers)

    def reserve(self, total_tokens: int) -> None:
        """Make room for ``total_tokens`` tokens in every layer that keeps them (no reallocation later)."""
        for layer in self.layers:
            layer.reserve(total_tokens)
