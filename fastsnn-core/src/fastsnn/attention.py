"""The token-mixer contract: a parallel form for training, an incremental form with a cache.

Every registered attention module maps ``x [B, T, d_model] → y [B, T, d_model]`` causally.
Called with a cache (from :meth:`AttentionBase.init_cache`), it treats ``x`` as the next ``T``
tokens after those the cache has seen, and advances the cache in place. The result must equal
the parallel form on the whole sequence (decode == prefill).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import torch
from torch import nn


class LayerCache:
    """Base class of per-layer decoding state. ``seen`` counts the tokens already consumed."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.seen = 0

    def nbytes(self) -> int:
        """Bytes held by this cache's tensors."""
        return sum(t.numel() * t.element_size() for t in vars(self).values() if isinstance(t, torch.Tensor))


class AttentionBase(nn.Module):
    """Base class of registered token mixers (kind ``attention``)."""

    @abstractmethod
    def init_cache(self, batch_size: int, device: Any = None, dtype: torch.dtype | None = None) -> LayerCache:
        """An empty decoding cache for ``batch_size`` sequences."""

    @abstractmethod
    def forward(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        """``x [B, T, d_model]`` → ``[B, T, d_model]``; with ``cache``, continue from it."""
