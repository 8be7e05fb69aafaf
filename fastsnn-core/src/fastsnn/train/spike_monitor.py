"""Per-layer spike statistics and the firing-rate regulariser, through core's neuron contract.

Every neuron is a :class:`fastsnn.SpikingNeuron` whose ``spikes(x)`` returns a count-view
:class:`~fastsnn.SpikeTensor` with differentiable counts. While a :class:`SpikeMonitor` records,
a forward hook on each neuron module calls ``spikes`` on the neuron's input and reads the counts;
no neuron class needs to know. Outside :meth:`SpikeMonitor.record` no hook is installed, so a
step that neither logs statistics nor regularises pays nothing; one that does pays one extra
count computation per neuron call (a neuron's own forward may take a fused path that never
builds the counts). BENCHMARKS.md ("Spike statistics during training") has the measured cost.

Statistics of one layer over the values it emitted while recording (counts ``n`` of shape
``[..., D]``; a "unit" is one of the ``D`` features):

- ``firing_rate``: mean ``|n|`` — spikes per value;
- ``sparsity``: fraction of values with ``n = 0``;
- ``silent``: fraction of units that never fired (``n = 0`` for every token seen) — dead units;
- ``saturated``: fraction of units that fired for every token seen — units that never rest.

With ``record(histograms=True)`` each layer also keeps its spike-count histogram (count value →
how many values had it); SpikeScope (:mod:`fastsnn.spikescope`) derives event counts and time
steps per coding from it.

A neuron whose consumer takes spikes directly (``accepts_spikes``, e.g. the int8 layer of
:mod:`fastsnn.quantize`: the FFN calls ``neuron.spikes`` and never the neuron's forward) is
recorded from that consumer's input instead, so a quantised model reports the same layers.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn.config.run import SpikeRegularizer
from fastsnn.neuron import SpikingNeuron
from fastsnn.spike_tensor import SpikeTensor


@dataclass
class LayerSpikeStats:
    """Running totals of one neuron module's counts (see the module docstring for the measures)."""

    values: int = 0
    spikes: float = 0.0
    zeros: int = 0
    ever_fired: torch.Tensor | None = None  # [D] bool
    always_fired: torch.Tensor | None = None  # [D] bool
    histogram: dict[int, int] | None = None  # count value → how many values; kept when not None

    def add(self, counts: torch.Tensor) -> None:
        """Add counts ``[..., D]`` (detached)."""
        flat = counts.reshape(-1, counts.shape[-1]) if counts.dim() else counts.reshape(1, 1)
        nonzero = flat != 0
        if self.histogram is not None and flat.numel():
            add_to_histogram(self.histogram, flat)
        self.values += flat.numel()
        self.spikes += float(flat.abs().sum(dtype=torch.float64))
        self.zeros += flat.numel() - int(nonzero.sum())
        ever, always = nonzero.any(0).cpu(), nonzero.all(0).cpu()
        if self.ever_fired is None or self.ever_fired.shape != ever.shape:
            self.ever_fired, self.always_fired = ever, always
        else:
            self.ever_fired |= ever
            self.always_fired &= always

    def as_dict(self) -> dict[str, float]:
        units = self.ever_fired.numel() if self.ever_fired is not None else 0
        return {
            "firing_rate": self.spikes / self.values if self.values else 0.0,
            "sparsity": self.zeros / self.values if self.values else 1.0,
            "silent": float((~self.ever_fired).sum()) / units if units else 0.0,
            "saturated": float(self.always_fired.sum()) / units if units else 0.0,
        }


def add_to_histogram(histogram: dict[int, int], counts: torch.Tensor) -> None:
    """Add the values of ``counts`` (integers, any shape) to ``histogram`` (value → frequency).

    A count range of up to 65,536 values is tallied with ``bincount`` (linear time; ``unique``
    sorts, and took 3× a model's forward pass); a wider one with ``unique``.
    """
    ints = counts.detach().round().to(torch.int64).flatten()
    lo, hi = int(ints.min()), int(ints.max())
    if hi - lo < 1 << 16:
        freq = torch.bincount(ints - lo, minlength=hi - lo + 1)
        present = freq.nonzero().flatten()
        pairs = zip((present + lo).tolist(), freq[present].tolist())
    else:
        values, freq = torch.unique(ints, return_counts=True)
        pairs = zip(values.tolist(), freq.tolist())
    for value, n in pairs:
        histogram[value] = histogram.get(value, 0) + n


def summarize(stats: dict[str, dict[str, float]]) -> dict[str, float]:
    """Means over layers of each measure (for a one-line log)."""
    if not stats:
        return {}
    keys = next(iter(stats.values())).keys()
    return {k: sum(s[k] for s in stats.values()) / len(stats) for k in keys}


class SpikeMonitor:
    """Records spike statistics and/or firing rates of every :class:`SpikingNeuron` in ``model``.

    >>> monitor = SpikeMonitor(model)                       # doctest: +SKIP
    >>> with monitor.record(stats=True):                    # doctest: +SKIP
    ...     model(ids)
    >>> monitor.take_stats()    # {"blocks.0.ffn.neuron": {"firing_rate": 3.0, "sparsity": 0.83, ...}, ...}

    :param regularizer: the band :meth:`penalty` keeps firing rates in (None: no penalty).
    """

    def __init__(self, model: nn.Module, regularizer: SpikeRegularizer | None = None) -> None:
        self.neurons = [(name, m) for name, m in model.named_modules() if isinstance(m, SpikingNeuron)]
        #: consumer module name → the name of the neuron whose spikes it takes (``accepts_spikes``)
        self.spike_consumers = spike_consumers(model)
        self._consumers = [(name, m) for name, m in model.named_modules() if name in self.spike_consumers]
        self.regularizer = regularizer
        self.stats: dict[str, LayerSpikeStats] = {}
        self._rates: list[torch.Tensor] = []
        self._active = False
        self._histograms = False

    def __bool__(self) -> bool:
        return bool(self.neurons)

    @contextmanager
    def record(self, stats: bool = True, rates: bool = False, histograms: bool = False) -> Iterator[None]:
        """Inside the block, each neuron call adds to the statistics (``stats``; with ``histograms``
        also to each layer's count histogram) and/or keeps its differentiable mean ``|count|`` for
        :meth:`penalty` (``rates``). Hooks exist only inside."""
        if not self.neurons or not (stats or rates):
            yield
            return
        handles = [m.register_forward_hook(self._hook(name, stats, rates)) for name, m in self.neurons]
        handles += [m.register_forward_pre_hook(self._consumer_hook(self.spike_consumers[name], stats, rates))
                    for name, m in self._consumers]
        self._active, self._histograms = True, histograms
        try:
            yield
        finally:
            self._active = False
            for handle in handles:
                handle.remove()

    def _add(self, name: str, counts: torch.Tensor, stats: bool, rates: bool) -> None:
        if rates:
            self._rates.append(counts.abs().float().mean())
        if stats:
            layer = self.stats.setdefault(name, LayerSpikeStats(histogram={} if self._histograms else None))
            layer.add(counts.detach())

    def _hook(self, name: str, stats: bool, rates: bool) -> Any:
        def hook(module: SpikingNeuron, inputs: tuple[Any, ...], output: Any) -> None:
            if not self._active or not inputs or not isinstance(inputs[0], torch.Tensor):
                return  # an activation-checkpointing recompute in backward, or an odd call
            with torch.set_grad_enabled(rates and torch.is_grad_enabled()):
                counts = module.spikes(inputs[0]).counts
            self._add(name, counts, stats, rates)

        return hook

    def _consumer_hook(self, name: str, stats: bool, rates: bool) -> Any:
        def hook(module: nn.Module, inputs: tuple[Any, ...]) -> None:
            if self._active and inputs and isinstance(inputs[0], SpikeTensor) and inputs[0].view == "count":
                self._add(name, inputs[0].counts, stats, rates)

        return hook

    def stop(self) -> None:
        """End recording for this forward pass (hooks called later, e.g. by recomputation, are ignored)."""
        self._active = False

    def penalty(self) -> torch.Tensor | None:
        """``weight · mean over recorded calls of (relu(min − r)² + relu(r − max)²)``; clears the rates."""
        rates, self._rates = self._rates, []
        if self.regularizer is None or not rates:
            return None
        r = torch.stack(rates)
        band = F.relu(self.regularizer.min_rate - r).square() + F.relu(r - self.regularizer.max_rate).square()
        return self.regularizer.weight * band.mean()

    def take_stats(self) -> dict[str, dict[str, float]]:
        """The statistics recorded so far, per layer, as plain numbers; resets them."""
        return {name: s.as_dict() for name, s in self.take_layers().items()}

    def take_layers(self) -> dict[str, LayerSpikeStats]:
        """The running totals recorded so far, per layer (histograms included); resets them."""
        out, self.stats = self.stats, {}
        return out


def spike_consumers(model: nn.Module) -> dict[str, str]:
    """Modules that take a neuron's spikes directly (``accepts_spikes``) → that neuron's name: the one
    :class:`SpikingNeuron` among the consumer's siblings (how the FFN blocks hand them over)."""
    found = {}
    for parent_name, parent in model.named_modules():
        prefix = f"{parent_name}." if parent_name else ""
        children = list(parent.named_children())
        neurons = [name for name, child in children if isinstance(child, SpikingNeuron)]
        if len(neurons) != 1:
            continue
        for name, child in children:
            if getattr(child, "accepts_spikes", False):
                found[prefix + name] = prefix + neurons[0]
    return found
