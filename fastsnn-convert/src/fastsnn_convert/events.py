"""Event-driven inference of a converted network, on core's coding contract alone.

Inside ``with event_inference(snn, coding="bitwise", num_steps=4) as record:`` every
:class:`~fastsnn_convert.SpikingActivation` hands on a **spike train** instead of a dense tensor:
the counts its neuron computes (``n``, bounded so that they fit ``num_steps`` steps) encoded under
the coding (``e [T, ...]``, ``n = Σ_t w_t e_t``; :meth:`fastsnn.SpikeCoding.encode`, exactly the
train an integrate-and-fire neuron with soft reset emits under that coding). The converted layers
consume trains step by step:

- :class:`~fastsnn_convert.TemporalLinear` / ``TemporalConv1d`` / ``TemporalConv2d``: one synaptic
  update per step, ``Σ_t w_t · W e_t`` times the spike's value, bias once — the next neuron's
  membrane;
- max pooling: the train of the input with the largest count in each window (exact: see
  :class:`~fastsnn_convert.TemporalPool`); flatten: the train reshaped;
- anything else (average pooling, a residual add, a kept LayerNorm, the model's output) reads the
  train out, ``Σ_t w_t e_t · scale`` — equal to the count-mode value up to float rounding.

This is fastsnn-convert's own event path (a plugin does not import another plugin's run modes);
``fastsnn_neurons.event_mode`` also runs converted networks (its integrate-and-fire replay of each
neuron, with linear layers stepping its trains). Both reproduce count mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from fastsnn import FastSNNError, SpikeCoding, SpikeTensor
from fastsnn.output_read_out import SpikeTrainBase, read_out
from fastsnn.spike_tensor import resolve_coding

#: the largest count :func:`max_count_for` looks for (2^40: far past any useful number of levels)
_COUNT_CEILING = 1 << 40


def max_count_for(coding: str | SpikeCoding, num_steps: int, *, signed: bool = False) -> int:
    """The largest count ``N`` such that every count in ``[0, N]`` (``[-N, N]`` if ``signed``) fits
    ``num_steps`` steps of ``coding``: ``binary``/``ternary`` → T, ``bitwise``/``bitwise_bidirectional``
    → 2^T − 1, ``twos_complement`` → 2^(T−1) − 1. Found from the coding's own ``steps_for``, so any
    registered coding works.

    :raises FastSNNError: ``num_steps`` < 1, a signed range with an unsigned coding, or a coding
        that carries no count ≥ 1 in ``num_steps`` steps.
    """
    coding_obj = resolve_coding(coding)
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise FastSNNError(f"num_steps must be a positive integer, got {num_steps!r}")
    if signed and not coding_obj.signed:
        raise FastSNNError(
            f"coding {coding_obj.name!r} carries only counts >= 0, but the layer's counts are signed; use a signed "
            "coding (ternary, bitwise_bidirectional, twos_complement) or a non-negative activation (ReLU)"
        )

    def fits(n: int) -> bool:
        probe = torch.tensor([-n, n] if signed else [n], dtype=torch.int64)
        return coding_obj.steps_for(probe) <= num_steps

    if not fits(1):
        raise FastSNNError(f"coding {coding_obj.name!r} carries no spike count >= 1 in {num_steps} step(s)")
    lo, hi = 1, 2
    while hi < _COUNT_CEILING and fits(hi):
        lo, hi = hi, hi * 2
    if hi >= _COUNT_CEILING and fits(hi):
        return hi
    while hi - lo > 1:  # fits(lo) and not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


class SpikeTrain(SpikeTrainBase):
    """An event-view :class:`~fastsnn.SpikeTensor` passed between layers in :func:`event_inference`.

    ``spikes`` holds the events ``[T, *S]`` (int8, time first), the coding and the value of one
    spike (``scale``, broadcastable to ``S``). Converted layers read ``spikes`` step by step; for
    everything else the train behaves as its dense value ``Σ_t w_t e_t · scale`` (shape ``S``):
    torch functions (:class:`fastsnn.output_read_out.SpikeTrainBase`), arithmetic operators and
    tensor attributes (``x.view(...)``, ``x.dtype``) all read it out first.
    """

    __slots__ = ("spikes",)

    def __init__(self, spikes: SpikeTensor) -> None:
        if not isinstance(spikes, SpikeTensor) or spikes.view != "event":
            raise FastSNNError("SpikeTrain wraps an event-view SpikeTensor (SpikeTensor.to_events(coding))")
        self.spikes = spikes

    @property
    def shape(self) -> torch.Size:
        """The shape of the dense value (the events without their time axis)."""
        return self.spikes.shape

    @property
    def num_steps(self) -> int:
        return self.spikes.num_steps

    def to_dense(self) -> torch.Tensor:
        """``Σ_t w_t e_t · scale``, shape ``S``."""
        return self.spikes.to_dense()

    def __repr__(self) -> str:
        return f"SpikeTrain(steps={self.num_steps}, shape={tuple(self.shape)}, coding={self.spikes.coding.name!r})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.to_dense(), name)

    def _binary(op: Callable) -> Callable:
        def method(self: SpikeTrain, other: Any) -> Any:
            return op(self.to_dense(), read_out(other))
        return method

    def _reflected(op: Callable) -> Callable:
        def method(self: SpikeTrain, other: Any) -> Any:
            return op(read_out(other), self.to_dense())
        return method

    __add__, __radd__ = _binary(torch.add), _reflected(torch.add)
    __sub__, __rsub__ = _binary(torch.sub), _reflected(torch.sub)
    __mul__, __rmul__ = _binary(torch.mul), _reflected(torch.mul)
    __truediv__, __rtruediv__ = _binary(torch.div), _reflected(torch.div)
    __matmul__, __rmatmul__ = _binary(torch.matmul), _reflected(torch.matmul)
    del _binary, _reflected

    def __neg__(self) -> torch.Tensor:
        return -self.to_dense()

    def __getitem__(self, index: Any) -> torch.Tensor:
        return self.to_dense()[index]


def as_spikes(x: Any) -> SpikeTensor | None:
    """The SpikeTensor inside ``x`` (a SpikeTensor itself, or a :class:`SpikeTrain`'s), else None."""
    if isinstance(x, SpikeTrain):
        return x.spikes
    if isinstance(x, SpikeTensor):
        return x
    return None


@dataclass
class LayerActivity:
    """Spiking activity of one layer, summed over an :func:`event_inference` block (or a count run).

    ``values`` — activation values seen (``numel`` of the counts); ``spikes`` — non-zero events
    emitted (a count ``n`` is ``|n|`` binary spikes but popcount(n) bitwise ones); ``silent`` —
    values whose count was 0; ``samples`` — leading-axis entries (inputs) seen.
    """

    qualname: str
    values: int = 0
    spikes: int = 0
    silent: int = 0
    samples: int = 0
    steps: int = 0

    @property
    def sparsity(self) -> float:
        """Fraction of values with no spike at all (count 0)."""
        return self.silent / self.values if self.values else 0.0

    @property
    def spikes_per_sample(self) -> float:
        return self.spikes / self.samples if self.samples else 0.0

    @property
    def spike_rate(self) -> float:
        """Spikes per value per time step (the firing rate of the layer's event trains)."""
        return self.spikes / (self.values * self.steps) if self.values and self.steps else 0.0

    def add(self, counts: torch.Tensor, events: torch.Tensor) -> None:
        self.values += counts.numel()
        self.spikes += int(events.ne(0).sum())
        self.silent += int(counts.eq(0).sum())
        self.samples += int(counts.shape[0]) if counts.dim() else 1
        self.steps = int(events.shape[0])


@dataclass
class EventRecord:
    """What an :func:`event_inference` block (or a count-mode run) saw, per spiking layer."""

    coding: SpikeCoding
    num_steps: int
    layers: dict[str, LayerActivity] = field(default_factory=dict)

    def layer(self, qualname: str) -> LayerActivity:
        return self.layers.setdefault(qualname, LayerActivity(qualname))

    @property
    def spikes(self) -> int:
        return sum(layer.spikes for layer in self.layers.values())


@dataclass
class EventSettings:
    """How one :class:`~fastsnn_convert.SpikingActivation` runs inside :func:`event_inference`."""

    coding: SpikeCoding
    num_steps: int
    qualname: str
    record: EventRecord

    def emit(self, counted: SpikeTensor) -> SpikeTrain:
        """Counts → the train an integrate-and-fire neuron fires under the coding, recorded."""
        counts = counted.counts.detach()
        try:
            spikes = counted.to_events(self.coding, self.num_steps)
        except FastSNNError as err:
            raise FastSNNError(
                f"event inference: layer {self.qualname}: {err} (bound the counts with "
                "fastsnn_convert.set_time_steps(model, coding, num_steps) first)"
            ) from None
        self.record.layer(self.qualname).add(counts, spikes.spikes)
        return SpikeTrain(spikes)
