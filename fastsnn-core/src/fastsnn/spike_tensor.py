"""SpikeTensor: one value, three views (dense, count, event)."""

from __future__ import annotations

from typing import Literal, Union

import torch

from fastsnn.coding import SpikeCoding, check_events
from fastsnn.errors import FastSNNError
from fastsnn.plugins import get_registry

View = Literal["dense", "count", "event"]
CodingLike = Union[str, SpikeCoding]


def resolve_coding(coding: CodingLike) -> SpikeCoding:
    """A coding object from a registered name (or the object itself)."""
    if isinstance(coding, SpikeCoding):
        return coding
    return get_registry().build_ref("coding", coding)


class SpikeTensor:
    """A spiking activation in one of three views.

    - ``dense``: real-valued activations ``x`` (no spikes yet).
    - ``count``: integer spike counts ``n`` (any shape) times a ``scale`` broadcastable to it —
      the time-collapsed sINT view used in training. ``to_dense() = n · scale``. In training,
      ``counts`` is a float tensor holding integers so that gradients pass straight through.
    - ``event``: a spike train ``e[t, ...]`` over ``T`` steps under a coding, plus the scale.
      ``counts = Σ_t w_t · e_t`` exactly.

    count ↔ event is exact; event → dense is exact up to the scale's float precision.
    """

    __slots__ = ("_coding", "_counts", "_dense", "_events", "_scale", "view")

    def __init__(self, view: View, *, dense=None, counts=None, scale=None, events=None, coding=None):
        self.view: View = view
        self._dense = dense
        self._counts = counts
        self._scale = scale
        self._events = events
        self._coding = coding

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def dense(cls, x: torch.Tensor) -> SpikeTensor:
        """Wrap real activations."""
        _check_tensor(x, "x")
        return cls("dense", dense=x)

    @classmethod
    def count(cls, counts: torch.Tensor, scale: torch.Tensor | float = 1.0) -> SpikeTensor:
        """Integer spike counts (integer dtype, or float holding integers) times ``scale``."""
        _check_tensor(counts, "counts")
        if counts.dtype == torch.bool or counts.dtype.is_complex:
            raise FastSNNError(f"counts must be an integer or float tensor, got {counts.dtype}")
        if counts.dtype.is_floating_point:
            detached = counts.detach()
            if not bool(torch.isfinite(detached).all()):
                raise FastSNNError("counts contain NaN or inf; spike counts must be finite integers")
            if not torch.equal(detached, detached.round()):
                raise FastSNNError("counts must hold integer values (round them, or use a neuron to produce them)")
        scale_t = _as_scale(scale, counts)
        return cls("count", counts=counts, scale=scale_t)

    @classmethod
    def events(cls, spikes: torch.Tensor, scale: torch.Tensor | float = 1.0, coding: CodingLike = "binary") -> SpikeTensor:
        """A spike train ``spikes[t, ...]`` (time first) under ``coding``, times ``scale``."""
        _check_tensor(spikes, "spikes")
        coding_obj = resolve_coding(coding)
        check_events(spikes, coding_obj)
        return cls("event", events=spikes, scale=_as_scale(scale, spikes[0] if spikes.dim() else spikes),
                   coding=coding_obj)

    # -- views -------------------------------------------------------------------------------
    def to_dense(self) -> torch.Tensor:
        """Real values: ``x`` (dense), ``counts·scale`` (count) or ``decode(events)·scale`` (event)."""
        if self.view == "dense":
            return self._dense
        if self.view == "count":
            counts = self._counts
            if not counts.dtype.is_floating_point:
                counts = counts.to(self._scale.dtype if self._scale.dtype.is_floating_point else torch.float32)
            return counts * self._scale
        counts = self._coding.decode(self._events)
        dtype = self._scale.dtype if self._scale.dtype.is_floating_point else torch.float32
        return counts.to(dtype) * self._scale

    def to_count(self) -> SpikeTensor:
        """The count view (exact from events; a dense value needs a neuron to become spikes)."""
        if self.view == "count":
            return self
        if self.view == "event":
            return SpikeTensor("count", counts=self._coding.decode(self._events), scale=self._scale)
        raise FastSNNError(
            "a dense SpikeTensor has no spike counts; pass it through a neuron "
            "(e.g. fastsnn.create('neuron', 'adaptive_threshold')) to get counts"
        )

    def to_events(self, coding: CodingLike = "binary", num_steps: int | None = None) -> SpikeTensor:
        """The event view under ``coding`` (a registered name or object), exactly."""
        coding_obj = resolve_coding(coding)
        if self.view == "event" and self._coding is coding_obj and num_steps in (None, self.num_steps):
            return self
        counts = self.to_count()._counts
        if counts.dtype.is_floating_point:
            counts = counts.detach().round().to(torch.int64)
        events = coding_obj.encode(counts, num_steps=num_steps)
        return SpikeTensor("event", events=events, scale=self._scale, coding=coding_obj)

    # -- properties ------------------------------------------------------------------------------
    @property
    def counts(self) -> torch.Tensor:
        """Integer spike counts (count and event views)."""
        return self.to_count()._counts

    @property
    def scale(self) -> torch.Tensor:
        """The value of one spike (count and event views); 1 for dense."""
        if self.view == "dense":
            return torch.ones((), dtype=self._dense.dtype, device=self._dense.device)
        return self._scale

    @property
    def spikes(self) -> torch.Tensor:
        """The event train ``[T, ...]`` (event view only)."""
        if self.view != "event":
            raise FastSNNError(f"a {self.view} SpikeTensor has no event train; call .to_events(coding) first")
        return self._events

    @property
    def coding(self) -> SpikeCoding | None:
        return self._coding

    @property
    def shape(self) -> torch.Size:
        if self.view == "dense":
            return self._dense.shape
        if self.view == "count":
            return self._counts.shape
        return self._events.shape[1:]

    @property
    def num_steps(self) -> int:
        """Time steps the value spans: ``T`` for events, 1 for the time-collapsed count and dense views."""
        return int(self._events.shape[0]) if self.view == "event" else 1

    @property
    def firing_rate(self) -> float:
        """Mean spikes per neuron per time step (|count| for counts, |event| for events)."""
        if self.view == "dense":
            raise FastSNNError("a dense SpikeTensor has no firing rate; convert it with a neuron first")
        data = self._counts if self.view == "count" else self._events
        if data.numel() == 0:
            return 0.0
        return float(data.detach().abs().float().mean())

    @property
    def sparsity(self) -> float:
        """Fraction of zero counts (count view) or of silent neuron-steps (event view)."""
        if self.view == "dense":
            data = self._dense
        else:
            data = self._counts if self.view == "count" else self._events
        if data.numel() == 0:
            return 1.0
        return float((data.detach() == 0).float().mean())

    def __repr__(self) -> str:
        extra = f", coding={self._coding.name!r}, steps={self.num_steps}" if self.view == "event" else ""
        return f"SpikeTensor(view={self.view!r}, shape={tuple(self.shape)}{extra})"


def _check_tensor(x, what: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise FastSNNError(f"{what} must be a torch.Tensor, got {type(x).__name__}")


def _as_scale(scale, like: torch.Tensor) -> torch.Tensor:
    """``scale`` as a finite floating tensor broadcastable to ``like`` (the counts' shape)."""
    if isinstance(scale, bool) or not isinstance(scale, (torch.Tensor, int, float)):
        raise FastSNNError(f"scale must be a number or a tensor, got {type(scale).__name__}")
    if not isinstance(scale, torch.Tensor):
        dtype = like.dtype if like.dtype.is_floating_point else torch.float32
        scale = torch.tensor(float(scale), dtype=dtype, device=like.device)
    if not scale.dtype.is_floating_point:
        raise FastSNNError(f"scale must be a floating-point tensor, got {scale.dtype}")
    try:
        broadcast = torch.broadcast_shapes(scale.shape, like.shape)
    except RuntimeError:
        broadcast = None
    if broadcast != like.shape:
        raise FastSNNError(
            f"scale of shape {tuple(scale.shape)} does not broadcast to the counts' shape {tuple(like.shape)}; "
            "use one value per token ([..., 1]) or per element"
        )
    if not bool(torch.isfinite(scale.detach()).all()):
        raise FastSNNError("scale contains NaN or inf; the value of one spike must be finite")
    return scale
