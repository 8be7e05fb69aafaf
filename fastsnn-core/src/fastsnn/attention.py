"""The token-mixer contract (kind ``attention``): a parallel form for training, an incremental form with a cache.

Every registered attention module maps ``x [B, T, d_model] → y [B, T, d_model]`` causally.
Called with a cache (from :meth:`AttentionBase.init_cache`), it treats ``x`` as the next ``T``
tokens after those the cache has seen. The result must equal the parallel form on the whole
sequence (decode == prefill).

:meth:`AttentionBase.forward` is a template method: it checks the input and the cache, works out
the absolute position of the first token, calls the layer's :meth:`AttentionBase.mix`, and then
advances ``cache.seen``. A layer writes only its mixing and its cache — never the bookkeeping
(the idea of flash-linear-attention's ``fla/layers/utils.py``).
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from fastsnn.errors import FastSNNError
from fastsnn.params import Component, Params


class LayerCache:
    """Base class of per-layer decoding state. ``seen`` counts the tokens already consumed.

    ``owner_id`` (``id`` of the module that made the cache, or ``None``) lets a module refuse a
    cache made by another one.
    """

    def __init__(self, batch_size: int, owner: nn.Module | None = None) -> None:
        self.batch_size = batch_size
        self.seen = 0
        self.owner_id = None if owner is None else id(owner)

    def __deepcopy__(self, memo: dict[int, Any]) -> LayerCache:
        """An independent copy (to branch a decode); tensors are detached copies of the state."""
        clone = copy.copy(self)
        memo[id(self)] = clone
        for key, value in vars(self).items():
            setattr(clone, key, value.detach().clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value, memo))
        return clone

    def nbytes(self) -> int:
        """Bytes held by this cache's tensors."""
        return sum(t.numel() * t.element_size() for t in vars(self).values() if isinstance(t, torch.Tensor))

    def bytes_per_token(self) -> int:
        """Bytes this cache grows by for each token it consumes (all sequences of the batch).

        ``0`` (the default) for a state whose size does not depend on the sequence (linear
        attention's sums, a sliding-window ring); a cache that keeps every token (softmax keys and
        values) returns its per-token size, so a caller can see how memory will grow before a long
        prefill.
        """
        return 0

    def reserve(self, total_tokens: int) -> None:
        """Make room for ``total_tokens`` tokens in all (seen ones included), so that consuming them
        does not reallocate. A no-op for constant-size state (the default)."""


class AttentionBase(Component, nn.Module):
    """Base class of registered token mixers (kind ``attention``).

    Subclasses declare ``Params`` and implement :meth:`mix` and :meth:`init_cache`. The builder
    constructs a layer as ``Layer(d_model, n_heads, layer_idx=i, max_seq_len=L, params=...)``;
    those four are available as attributes.

    :param d_model: residual stream width (input and output feature size).
    :param n_heads: query heads.
    :param layer_idx: position of the layer in the model (for error messages and layouts).
    :param max_seq_len: longest sequence accepted (cached + new tokens); ``None``: no limit (refused
        by a layer that declares :attr:`needs_max_seq_len`).
    """

    #: the cache class :meth:`init_cache` returns, checked by :meth:`check_cache`
    cache_class: type[LayerCache] = LayerCache

    #: Why this kind of layer needs a sequence limit, or ``None`` (the default) when it needs none:
    #: its state does not grow with the sequence (linear attention, GLA, a sliding-window ring) and
    #: positions are computed on the fly (RoPE). A layer that needs one (a KV cache that keeps every
    #: token, a learned position table) sets a short reason, e.g. ``"its KV cache keeps every token"``:
    #: it then refuses ``max_seq_len=None`` at construction, and every "too long" error quotes it.
    needs_max_seq_len: ClassVar[str | None] = None

    def __init__(self, d_model: int, n_heads: int, layer_idx: int = 0, max_seq_len: int | None = None, *,
                 params: Params | Mapping[str, Any] | None = None, **values: Any) -> None:
        nn.Module.__init__(self)
        self.init_params(params, values)
        for what, value in (("d_model", d_model), ("n_heads", n_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise FastSNNError(f"{type(self).__name__}: {what} must be a positive int, got {value!r}")
        if max_seq_len is not None and (isinstance(max_seq_len, bool) or not isinstance(max_seq_len, int)
                                        or max_seq_len <= 0):
            raise FastSNNError(f"{type(self).__name__}: max_seq_len must be a positive int or None, got {max_seq_len!r}")
        if max_seq_len is None and self.needs_max_seq_len:
            raise FastSNNError(
                f"{type(self).__name__} (layer {layer_idx}) needs max_seq_len: {self.needs_max_seq_len}; set "
                "max_seq_len in the model config to the longest sequence (prompt + generated tokens) it must "
                "hold, or use layers that need no limit (linear, gla, swa, the hybrid_alt layout)"
            )
        self.d_model, self.n_heads, self.layer_idx, self.max_seq_len = d_model, n_heads, layer_idx, max_seq_len

    @abstractmethod
    def init_cache(self, batch_size: int, device: Any = None, dtype: torch.dtype | None = None) -> LayerCache:
        """An empty decoding cache for ``batch_size`` sequences (an instance of :attr:`cache_class`)."""

    @abstractmethod
    def mix(self, x: torch.Tensor, cache: LayerCache | None, start: int) -> torch.Tensor:
        """The layer's mixing: ``x [B, T, d_model]`` (tokens at positions ``start … start+T−1``) →
        ``[B, T, d_model]``.

        Without a cache, ``x`` is a whole sequence (``start == 0``). With one, ``x`` continues the
        ``start`` tokens the cache has seen: read the cache and write this chunk's state into it,
        but leave ``cache.seen`` alone — :meth:`forward` advances it after this returns.
        """

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        """``x [B, T, d_model]`` → ``[B, T, d_model]``; with ``cache``, continue from it and advance it.

        :raises FastSNNError: bad input shape, a cache of another layer or batch size, or a sequence
            longer than ``max_seq_len``.
        """
        start = self.check_cache(x, cache)
        out = self.mix(x, cache, start)
        if cache is not None:
            cache.seen += x.shape[1]
        return out

    def check_cache(self, x: torch.Tensor, cache: LayerCache | None) -> int:
        """Check ``x [B, T, d]`` and ``cache``; return the absolute position of ``x``'s first token.

        Raises :class:`FastSNNError` for a cache of another kind, module or batch size, or when
        the sequence would exceed ``max_seq_len``.
        """
        name = type(self).__name__
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise FastSNNError(f"{name}: input must be [batch, time, d_model], got {shape}")
        if x.shape[-1] != self.d_model:
            raise FastSNNError(f"{name}: input has {x.shape[-1]} features but the layer's d_model is {self.d_model}")
        if not x.dtype.is_floating_point:
            raise FastSNNError(f"{name}: input must be a floating-point tensor, got {x.dtype}")
        batch, time = x.shape[0], x.shape[1]
        if batch == 0 or time == 0:
            raise FastSNNError(f"{name}: input has an empty batch or time axis (shape {tuple(x.shape)})")
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
            why = (f" ({self.needs_max_seq_len})" if self.needs_max_seq_len else
                   " (this layer needs no limit: leave max_seq_len unset to lift it)")
            raise FastSNNError(
                f"{name} (layer {self.layer_idx}): sequence too long: {start} cached + {time} new tokens > "
                f"max_seq_len={self.max_seq_len}{why}; raise max_seq_len in the model config or start a new cache"
            )
        return start

    def extra_repr(self) -> str:
        text = f"d_model={self.d_model}, n_heads={self.n_heads}, layer={self.layer_idx}"
        return f"{text}, {self.params_repr()}" if type(self.params).model_fields else text
