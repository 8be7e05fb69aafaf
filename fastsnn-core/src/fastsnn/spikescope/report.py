"""What a SpikeScope run found: :class:`ScopeReport` (plain data: pickles, deep-copies, JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fastsnn.spikescope.energy import EnergySummary, LayerOps
from fastsnn.spikescope.steps import CodingSteps

#: the layout of :meth:`ScopeReport.to_dict` (bumped when a field changes meaning)
SCOPE_FORMAT_VERSION = 1


@dataclass
class LayerScope:
    """One spiking layer (a :class:`fastsnn.SpikingNeuron` module) over the whole run.

    The four rates are those of :class:`fastsnn.train.spike_monitor.LayerSpikeStats`:
    ``firing_rate`` (mean ``|count|``, spikes per value), ``sparsity`` (fraction of zero counts),
    ``silent`` / ``saturated`` (fractions of the ``units`` features that never / always fired).

    :param histogram: spike count → how many values had it.
    :param codings: registered coding name → its time steps and events for these counts.
    :param events: spike events under the report's coding (what the ACs are counted from).
    """

    name: str
    neuron: str
    units: int
    values: int
    spikes: float
    firing_rate: float
    sparsity: float
    silent: float
    saturated: float
    histogram: dict[int, int] = field(default_factory=dict)
    codings: dict[str, CodingSteps] = field(default_factory=dict)
    events: int = 0

    @property
    def count_range(self) -> tuple[int, int]:
        """Smallest and largest count seen (``(0, 0)`` when none)."""
        return (min(self.histogram), max(self.histogram)) if self.histogram else (0, 0)


@dataclass
class ScopeReport:
    """Spike statistics and the energy proxy of one model over some inputs.

    :param name: what was scoped (a path, or the model's class name).
    :param model: the model's class name.
    :param batches: batches run; ``inputs``: input values fed (tokens for a language model).
    :param coding: the coding ACs are counted under (``"unary"``: one event per unit count).
    :param layers: the spiking layers, in module order (empty: the model has none).
    :param ops: every linear/conv layer that ran, with its MACs and, when spike-fed, its ACs.
    :param energy: the totals, with the pJ table used.
    :param notes: things the reader should know (no spiking layers, plots skipped, …).
    """

    name: str
    model: str
    batches: int
    inputs: int
    coding: str
    layers: list[LayerScope] = field(default_factory=list)
    ops: list[LayerOps] = field(default_factory=list)
    energy: EnergySummary = field(default_factory=EnergySummary)
    notes: list[str] = field(default_factory=list)

    @property
    def has_spikes(self) -> bool:
        return bool(self.layers)

    def summary(self) -> dict[str, Any]:
        """Headline numbers: layer count, means over layers of the four rates, energy totals."""
        n = len(self.layers)
        mean = (lambda key: sum(getattr(layer, key) for layer in self.layers) / n) if n else (lambda key: None)
        return {
            "spiking_layers": n,
            "firing_rate": mean("firing_rate"), "sparsity": mean("sparsity"),
            "silent": mean("silent"), "saturated": mean("saturated"),
            "macs": self.energy.macs, "acs": self.energy.acs,
            "dense_fp16_pj": self.energy.dense_fp16_pj, "spiking_pj": self.energy.spiking_pj,
            "energy_saving": self.energy.saving,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: histograms as ``{"counts": [...], "values": [...]}``, ops with their fan-out."""
        layers = []
        for layer in self.layers:
            row = asdict(layer)
            row["histogram"] = {"counts": sorted(layer.histogram),
                                "values": [layer.histogram[k] for k in sorted(layer.histogram)]}
            layers.append(row)
        return {
            "format": "fastsnn-scope", "format_version": SCOPE_FORMAT_VERSION,
            "name": self.name, "model": self.model, "batches": self.batches, "inputs": self.inputs,
            "coding": self.coding, "summary": self.summary(), "layers": layers,
            "ops": [{**asdict(o), "fan_out": o.fan_out} for o in self.ops],
            "energy": {**asdict(self.energy), "saving": self.energy.saving},
            "notes": list(self.notes),
        }


__all__ = ["SCOPE_FORMAT_VERSION", "LayerScope", "ScopeReport"]
