"""Spike statistics of neurons: firing rate, sparsity and count histograms, off unless asked.

``with collect_stats(model, coding="bitwise") as stats:`` makes every neuron of ``model``
record what it emits; ``stats`` maps module names to :class:`NeuronStats` (plain dataclasses,
``as_dict()`` for JSON). The recording is installed from outside the neurons (a table keyed
weakly by the module, :data:`fastsnn_neurons.neurons.base.count_recorders`), so a copy of the
model taken inside the block is a plain model. Outside every such block a neuron pays one
emptiness test per call.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Union

import torch
from torch import nn

from fastsnn import FastSNNError, SpikeCoding, SpikingNeuron
from fastsnn.spike_tensor import resolve_coding
from fastsnn_neurons.neurons.base import PackageNeuron, count_recorders


@dataclass
class NeuronStats:
    """Running totals of one neuron's outputs.

    - ``values``: count values seen (one per neuron per call, per step for multi-step neurons);
    - ``zero_counts``: how many were 0; ``spikes``: ``Σ|count|``;
    - ``histogram``: count value → frequency;
    - ``event_steps`` / ``silent_steps`` / ``events``: neuron-steps, silent ones and nonzero
      events of the event trains (under ``coding``: recorded in event mode, or encoded from
      the counts when :func:`collect_stats` was given a coding).
    """

    coding: str | None = None
    calls: int = 0
    values: int = 0
    zero_counts: int = 0
    spikes: int = 0
    histogram: dict[int, int] = field(default_factory=dict)
    event_steps: int = 0
    silent_steps: int = 0
    events: int = 0
    _coding_obj: SpikeCoding | None = field(default=None, repr=False, compare=False)

    @property
    def firing_rate(self) -> float:
        """Mean |count| per neuron per call (spikes per neuron in the time-collapsed view)."""
        return self.spikes / self.values if self.values else 0.0

    @property
    def sparsity(self) -> float:
        """Fraction of zero counts."""
        return self.zero_counts / self.values if self.values else 1.0

    @property
    def event_sparsity(self) -> float | None:
        """Fraction of silent neuron-steps under the coding (None if no trains were seen)."""
        return self.silent_steps / self.event_steps if self.event_steps else None

    @property
    def event_rate(self) -> float | None:
        """Nonzero events per neuron per step under the coding (None if no trains were seen)."""
        return self.events / self.event_steps if self.event_steps else None

    def record_counts(self, counts: torch.Tensor) -> None:
        """Add a tensor of counts (any shape; float holding integers or integer)."""
        whole = counts.detach()
        if whole.dtype.is_floating_point:
            whole = whole.round().to(torch.int64)
        self.calls += 1
        self.values += whole.numel()
        self.zero_counts += int((whole == 0).sum())
        self.spikes += int(whole.abs().sum())
        values, freq = torch.unique(whole, return_counts=True)
        for value, n in zip(values.tolist(), freq.tolist()):
            self.histogram[value] = self.histogram.get(value, 0) + n
        if self._coding_obj is not None:
            self._add_events(self._coding_obj.encode(whole))

    def record_events(self, events: torch.Tensor, coding: SpikeCoding) -> None:
        """Add an emitted event train ``[T, *S]`` (and its decoded counts)."""
        self.coding = coding.name
        self.record_counts(coding.decode(events))
        if self._coding_obj is None:
            self._add_events(events)

    def _add_events(self, events: torch.Tensor) -> None:
        nonzero = int((events != 0).sum())
        self.event_steps += events.numel()
        self.events += nonzero
        self.silent_steps += events.numel() - nonzero

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (histogram keys as strings) with the derived rates."""
        return {
            "coding": self.coding,
            "calls": self.calls,
            "values": self.values,
            "zero_counts": self.zero_counts,
            "spikes": self.spikes,
            "firing_rate": self.firing_rate,
            "sparsity": self.sparsity,
            "event_steps": self.event_steps,
            "silent_steps": self.silent_steps,
            "events": self.events,
            "event_rate": self.event_rate,
            "event_sparsity": self.event_sparsity,
            "histogram": {str(k): v for k, v in sorted(self.histogram.items())},
        }


@contextmanager
def collect_stats(model: nn.Module, coding: Union[str, SpikeCoding, None] = None) -> Iterator[dict[str, NeuronStats]]:
    """Record :class:`NeuronStats` for every neuron of ``model`` inside the block.

    Yields a dict: module name (``""`` if ``model`` is itself a neuron) → NeuronStats, filled
    as the model runs; it stays readable after the block. With ``coding`` the counts are also
    encoded under it to measure silent steps (costs an encode per call). Neurons that are not
    of this package (no recording support) raise a FastSNNError.
    """
    coding_obj = resolve_coding(coding) if coding is not None else None
    neurons = [(name, m) for name, m in model.named_modules() if isinstance(m, SpikingNeuron)]
    if not neurons:
        raise FastSNNError(f"collect_stats: {type(model).__name__} contains no spiking neuron")
    for name, neuron in neurons:
        if not isinstance(neuron, PackageNeuron):
            raise FastSNNError(
                f"collect_stats: neuron {name or '(the model itself)'} ({type(neuron).__name__}) does not record "
                "statistics; only fastsnn-neurons neurons do"
            )
        if neuron in count_recorders:
            raise FastSNNError(f"collect_stats: neuron {name or '(the model itself)'} is already recording")
    stats = {name: NeuronStats(coding=coding_obj.name if coding_obj else None, _coding_obj=coding_obj)
             for name, _ in neurons}
    for name, neuron in neurons:
        count_recorders[neuron] = stats[name]
    try:
        yield stats
    finally:
        for _, neuron in neurons:
            count_recorders.pop(neuron, None)
