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


@dataclass
class LayerSpikeStats:
    """Running totals of one neuron module's counts (see the module docstring for the measures)."""

    values: int = 0
    spikes: float = 0.0
    zeros: int = 0
    ever_fired: torch.Tensor | None = None  # [D] bool
    always_fired: torch.Tensor | None = None  # [D] bool

    def add(self, counts: torch.Tensor) -> None:
        """Add counts ``[..., D]`` (detached)."""
        flat = counts.reshape(-1, counts.shape[-1]) if counts.dim() else counts.reshape(1, 1)
        nonzero = flat != 0
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
        self.regularizer = regularizer
        self.stats: dict[str, LayerSpikeStats] = {}
        self._rates: list[torch.Tensor] = []
        self._active = False

    def __bool__(self) -> bool:
        return bool(self.neurons)

    @contextmanager
    def record(self, stats: bool = True, rates: bool = False) -> Iterator[None]:
        """Inside the block, each neuron call adds to the statistics (``stats``) and/or keeps its
        differentiable mean ``|count|`` for :meth:`penalty` (``rates``). Hooks exist only inside."""
        if not self.neurons or not (stats or rates):
            yield
            return
        handles = [m.register_forward_hook(self._hook(name, stats, rates)) for name, m in self.neurons]
        self._active = True
        try:
            yield
        finally:
            self._active = False
            for handle in handles:
                handle.remove()

    def _hook(self, name: str, stats: bool, rates: bool) -> Any:
        def hook(module: SpikingNeuron, inputs: tuple[Any, ...], output: Any) -> None:
            if not self._active or not inputs or not isinstance(inputs[0], torch.Tensor):
                return  # an activation-checkpointing recompute in backward, or an odd call
            with torch.set_grad_enabled(rates and torch.is_grad_enabled()):
                counts = module.spikes(inputs[0]).counts
            if rates:
                self._rates.append(counts.abs().float().mean())
            if stats:
                self.stats.setdefault(name, LayerSpikeStats()).add(counts.detach())

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
        out = {name: s.as_dict() for name, s in self.stats.items()}
        self.stats = {}
        return out
