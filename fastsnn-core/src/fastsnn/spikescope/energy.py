"""The energy proxy: multiply-accumulates (MAC) of a dense network against accumulates (AC) of spikes.

A layer fed by real values multiplies every input by every weight it reaches: a MAC each. A layer
fed by spikes only adds the weight a spike reaches to an accumulator: one AC per spike event per
output it reaches, so ``AC = nonzero events × fan-out`` — counted here from the spike counts a
model really emitted, not from an assumed rate. Energy is then ``ops × pJ per op`` with the
table below (:class:`EnergyTable`, user-overridable):

=================  ========  ============================================================
operation           pJ/op     source (45 nm CMOS)
=================  ========  ============================================================
FP16 MAC            1.5       Horowitz 2014: FP16 multiply 1.1 + FP16 add 0.4
INT8 MAC            0.23      Horowitz 2014: INT8 multiply 0.2 + INT8 add 0.03
INT8 add (an AC)    0.03      Horowitz 2014: INT8 add
=================  ========  ============================================================

These are the figures SpikingBrain uses for its energy estimate (Pan et al., "SpikingBrain
Technical Report: Spiking Brain-inspired Large Models", 2025, arXiv:2509.05276), taken from
M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014.

What is counted: every ``nn.Linear`` and convolution (and any layer that takes spikes directly,
``accepts_spikes``, such as the int8 layer of :mod:`fastsnn.quantize`), per call:

- ``macs`` of a linear layer = input values × ``out_features`` (= rows × in × out); of a
  convolution = output values × ``in_channels / groups`` × kernel size;
- a layer is *spike-fed* when its input is a spiking neuron's output (the very tensor, or a view
  of it, or the SpikeTensor itself); its ``fan_out`` is ``macs / input values`` (``out_features``
  for a linear layer);
- its ACs are ``macs × events / values`` of the feeding neuron, which is
  ``events × fan_out`` when the layer reads each of the neuron's outputs once.

Under the time-collapsed count view a count ``n`` is ``|n|`` events in a unary code (binary or
ternary: one spike per unit); a multi-bit code (bitwise, …) carries it in fewer events, counted
exactly from the histogram (:mod:`fastsnn.spikescope.steps`).

The estimate covers weight layers only: attention's score products (``QKᵀ``, ``AV``), norms and
element-wise operations are not counted, nor is memory traffic (which often dominates on real
hardware). It is a proxy for comparing models and codings, not a hardware measurement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterator

import torch
from torch import nn

from fastsnn.errors import FastSNNError
from fastsnn.neuron import SpikingNeuron
from fastsnn.spike_tensor import SpikeTensor

#: where the default figures come from (shown in the report)
ENERGY_SOURCE = ("45 nm CMOS: M. Horowitz, ISSCC 2014; as used by the SpikingBrain Technical Report "
                 "(Pan et al., 2025, arXiv:2509.05276)")


@dataclass(frozen=True)
class EnergyTable:
    """Picojoules per operation (see the module docstring for the sources).

    :param mac_fp16: one FP16 multiply-accumulate — what a dense layer costs per MAC.
    :param mac_int8: one INT8 multiply-accumulate — the quantised-dense reference.
    :param add_int8: one INT8 addition — what a spike-fed layer costs per AC.
    """

    mac_fp16: float = 1.5
    mac_int8: float = 0.23
    add_int8: float = 0.03

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise FastSNNError(f"energy table: {f.name} must be a finite number of pJ >= 0, got {value!r}")

    @classmethod
    def from_overrides(cls, overrides: EnergyTable | Mapping[str, float] | None) -> EnergyTable:
        """The default table with ``overrides`` (name → pJ) applied; an unknown name is an error."""
        if overrides is None:
            return cls()
        if isinstance(overrides, EnergyTable):
            return overrides
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise FastSNNError(f"energy table: unknown operation(s) {', '.join(unknown)}; "
                               f"the table has {', '.join(sorted(known))}")
        values = {}
        for name, value in overrides.items():
            try:
                values[name] = float(value)
            except (TypeError, ValueError):
                raise FastSNNError(f"energy table: {name} must be a number of pJ, got {value!r}") from None
        return cls(**values)

    @staticmethod
    def parse(items: list[str] | tuple[str, ...]) -> dict[str, float]:
        """``["mac_fp16=0.9", …]`` (the CLI's ``--pj``) → overrides; malformed items are errors."""
        out = {}
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise FastSNNError(f"--pj {item!r}: write NAME=PJ, e.g. --pj mac_fp16=1.5")
            try:
                out[name.strip()] = float(value)
            except ValueError:
                raise FastSNNError(f"--pj {item!r}: {value!r} is not a number of pJ") from None
        return out

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class LayerOps:
    """Operations of one weight layer over the whole scope run.

    :param name: module name; ``kind``: ``linear`` or ``conv``.
    :param macs: multiply-accumulates a dense run of the layer does (all calls).
    :param input_values: input values it read (all calls).
    :param fed_by: the spiking neuron whose output it takes, or None (a float input).
    :param acs: accumulates of the spike-fed layer (set from the neuron's events; None if float-fed).
    """

    name: str
    kind: str
    macs: int = 0
    input_values: int = 0
    fed_by: str | None = None
    acs: float | None = None

    @property
    def fan_out(self) -> float | None:
        """Outputs each input value reaches (``out_features`` for a linear layer)."""
        return self.macs / self.input_values if self.input_values else None


@dataclass
class EnergySummary:
    """Totals of the energy proxy (pJ for the whole scope run; see the module docstring).

    - ``dense_fp16_pj``: every counted layer as FP16 MACs (the ANN baseline);
    - ``dense_int8_pj``: the same as INT8 MACs (a quantised ANN);
    - ``spiking_pj``: spike-fed layers as INT8 adds (their ACs), the others as FP16 MACs;
    - ``spike_fed_mac_pj`` / ``spike_fed_ac_pj``: the spike-fed layers alone, as FP16 MACs vs as ACs.
    """

    macs: int = 0
    spike_fed_macs: int = 0
    acs: float = 0.0
    dense_fp16_pj: float = 0.0
    dense_int8_pj: float = 0.0
    spiking_pj: float = 0.0
    spike_fed_mac_pj: float = 0.0
    spike_fed_ac_pj: float = 0.0
    table: dict[str, float] = field(default_factory=dict)

    @property
    def saving(self) -> float | None:
        """``1 − spiking / dense FP16`` (None when nothing was counted)."""
        return 1.0 - self.spiking_pj / self.dense_fp16_pj if self.dense_fp16_pj else None


def summarize_energy(ops: list[LayerOps], table: EnergyTable) -> EnergySummary:
    """Totals of ``ops`` (whose ``acs`` are already set) under ``table``."""
    macs = sum(o.macs for o in ops)
    fed = [o for o in ops if o.fed_by is not None and o.acs is not None]
    fed_macs = sum(o.macs for o in fed)
    acs = float(sum(o.acs for o in fed))
    return EnergySummary(
        macs=macs, spike_fed_macs=fed_macs, acs=acs,
        dense_fp16_pj=macs * table.mac_fp16, dense_int8_pj=macs * table.mac_int8,
        spiking_pj=(macs - fed_macs) * table.mac_fp16 + acs * table.add_int8,
        spike_fed_mac_pj=fed_macs * table.mac_fp16, spike_fed_ac_pj=acs * table.add_int8,
        table=table.as_dict(),
    )


def _is_linear(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or (
        getattr(module, "accepts_spikes", False) and hasattr(module, "in_features") and hasattr(module, "out_features"))


def _kind(module: nn.Module) -> str | None:
    if _is_linear(module):
        return "linear"
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    return None


class OpCounter:
    """Counts the MACs of every linear/conv call of ``model`` and finds which layers are spike-fed.

    While :meth:`record` is active, each :class:`SpikingNeuron`'s output is remembered (a reference
    is kept until the batch ends, so its memory cannot be reused by another tensor and mistaken for
    it); a weight layer whose input shares that output's storage is fed by that neuron. A layer that
    receives a count-view :class:`SpikeTensor` is fed by the neuron ``spike_consumers`` names.
    """

    def __init__(self, model: nn.Module, spike_consumers: Mapping[str, str] | None = None) -> None:
        self.neurons = [(n, m) for n, m in model.named_modules() if isinstance(m, SpikingNeuron)]
        self.layers = [(n, m, k) for n, m in model.named_modules() if (k := _kind(m)) is not None]
        self.spike_consumers = dict(spike_consumers or {})
        self.ops: dict[str, LayerOps] = {n: LayerOps(n, k) for n, _, k in self.layers}
        self._outputs: list[tuple[str, torch.Tensor]] = []

    @contextmanager
    def record(self) -> Iterator[None]:
        handles = [m.register_forward_hook(self._neuron_hook(n)) for n, m in self.neurons]
        handles += [m.register_forward_hook(self._layer_hook(n, k)) for n, m, k in self.layers]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
            self._outputs = []

    def end_batch(self) -> None:
        """Forget the neuron outputs of the batch just run."""
        self._outputs = []

    def _neuron_hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if isinstance(output, torch.Tensor):
                self._outputs.append((name, output))

        return hook

    def _feeder(self, name: str, x: Any) -> str | None:
        if isinstance(x, SpikeTensor):
            return self.spike_consumers.get(name)
        if not isinstance(x, torch.Tensor) or x.numel() == 0:
            return None
        ptr = x.data_ptr()
        for neuron, out in reversed(self._outputs):
            start = out.data_ptr()
            if start <= ptr < start + out.numel() * out.element_size():
                return neuron
        return None

    def _layer_hook(self, name: str, kind: str) -> Any:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if not inputs:
                return
            x = inputs[0]
            values = x.counts.numel() if isinstance(x, SpikeTensor) else x.numel() if isinstance(x, torch.Tensor) else 0
            if kind == "linear":
                macs = values * int(module.out_features)
            elif isinstance(output, torch.Tensor):
                kernel = math.prod(module.kernel_size)
                macs = output.numel() * (module.in_channels // module.groups) * kernel
            else:
                return
            ops = self.ops[name]
            ops.macs += int(macs)
            ops.input_values += int(values)
            feeder = self._feeder(name, x)
            if feeder is not None:
                ops.fed_by = feeder

        return hook

    def counted(self) -> list[LayerOps]:
        """The layers that ran, in module order."""
        return [o for o in self.ops.values() if o.macs]


__all__ = ["ENERGY_SOURCE", "EnergySummary", "EnergyTable", "LayerOps", "OpCounter", "summarize_energy"]
