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

    def check(self, owner_id: int, batch_size: int, new_tokens: int, max_seq_len: int) -> None:
        if owner_id != self.owner_id:
            raise FastSNNError("this cache was made by another model; call model.init_cache(batch_size) on this model")
        if batch_size != self.batch_size:
            raise FastSNNError(
                f"cache was made for batch size {self.batch_size} but input has batch size {batch_size}; "
                f"call model.init_cache({batch_size})"
            )
        if self.seen + new_tokens > max_seq_len:
            raise FastSNNError(
                f"sequence too long: cache holds {self.seen} tokens and {new_tokens} more were given, "
                f"but max_seq_len is {max_seq_len}"
            )

    def nbytes(self) -> int:
        """Bytes of state held for this batch (all layers)."""
        return sum(layer.nbytes() for layer in self.layers)
