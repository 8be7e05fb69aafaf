"""The token-mixer contract: a parallel form for training, an incremental form with a cache.

Every registered attention module maps ``x [B, T, d_model] → y [B, T, d_model]`` causally.
Called with a cache (from :meth:`AttentionBase.init_cache`), it treats ``x`` as the next ``T``
tokens after those the cache has seen, and advances the cache in place (``cache.seen += T``).
The result must equal the parallel form on the whole sequence (decode == prefill).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import torch
from torch import nn

from fastsnn.errors import FastSNNError


class LayerCache:
    """Base class of per-layer decoding state. ``seen`` counts the tokens already consumed.

    ``owner_id`` (``id`` of the module that made the cache, or ``None``) lets a module refuse a
    cache made by another one.
    """

    def __init__(self, batch_size: int, owner: nn.Module | None = None) -> None:
        self.batch_size = batch_size
        self.seen = 0
        self.owner_id = None if owner is None else id(owner)

    def nbytes(self) -> int:
        """Bytes held by this cache's tensors."""
        return sum(t.numel() * t.element_size() for t in vars(self).values() if isinstance(t, torch.Tensor))


class AttentionBase(nn.Module):
    """Base class of registered token mixers (kind ``attention``).

    Subclasses set ``max_seq_len`` (the builder passes it) and may call :meth:`check_cache` at
    the top of ``forward`` to validate the input and cache uniformly.
    """

    #: longest sequence accepted (``None``: no limit)
    max_seq_len: int | None = None
    #: the cache class :meth:`init_cache` returns, checked by :meth:`check_cache`
    cache_class: type[LayerCache] = LayerCache

    @abstractmethod
    def init_cache(self, batch_size: int, device: Any = None, dtype: torch.dtype | None = None) -> LayerCache:
        """An empty decoding cache for ``batch_size`` sequences."""

    @abstractmethod
    def forward(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        """``x [B, T, d_model]`` → ``[B, T, d_model]``; with ``cache``, continue from it."""

    def check_cache(self, x: torch.Tensor, cache: LayerCache | None) -> int:
        """Check ``x [B, T, d]`` and ``cache``; return the absolute position of ``x``'s first token.

        Raises :class:`FastSNNError` for a cache of another kind, module or batch size, or when
        the sequence would exceed ``max_seq_len``.
        """
        name = type(self).__name__
        if x.dim() != 3:
            raise FastSNNError(f"{name}: input must be [batch, time, d_model], got shape {tuple(x.shape)}")
        batch, time = x.shape[0], x.shape[1]
        start = 0
        if cache is not None:
            if not isinstance(cache, self.cache_class) or (
                cache.owner_id is not None and cache.owner_id != id(self)
            ):
                raise FastSNNError(
                    f"{name}: this cache ({type(cache).__name__}) was made by another layer or model; "
                    "use the cache from this module's init_cache (model.init_cache for a whole model)"
                )
            if cache.batch_size != batch:
                raise FastSNNError(
                    f"{name}: cache was made for batch size {cache.batch_size} but the input has batch "
                    f"size {batch}; make a new cache with init_cache({batch})"
                )
            start = cache.seen
        if self.max_seq_len is not None and start + time > self.max_seq_len:
            raise FastSNNError(
                f"{name}: sequence too long: {start} cached + {time} new tokens > max_seq_len={self.max_seq_len}; "
                "raise max_seq_len in the model config or start a new cache"
            )
        return start
