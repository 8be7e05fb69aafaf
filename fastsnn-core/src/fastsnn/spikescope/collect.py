"""``fastsnn.scope(model, batches)``: run inputs through a model and record what its neurons emit.

The per-layer statistics are the trainer's own (:class:`fastsnn.train.spike_monitor.SpikeMonitor`,
recording histograms as well); the weight layers' operations come from
:class:`fastsnn.spikescope.energy.OpCounter`. Nothing of the model is changed: its train/eval mode
is restored and no hook outlives the call.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from fastsnn.coding import SpikeCoding
from fastsnn.errors import FastSNNError
from fastsnn.spikescope.energy import EnergyTable, OpCounter, summarize_energy
from fastsnn.spikescope.report import LayerScope, ScopeReport
from fastsnn.spikescope.steps import coding_steps, unary_events
from fastsnn.train.spike_monitor import LayerSpikeStats, SpikeMonitor

#: the report coding that counts one event per unit of a count (what binary/ternary codes do)
UNARY = "unary"


def scope(model: nn.Module, batches: Iterable[Any], *, coding: str | SpikeCoding | None = None,
          energy: EnergyTable | Mapping[str, float] | None = None, max_batches: int | None = None,
          name: str | None = None, source: str | None = None, progress: bool = True) -> ScopeReport:
    """Spike statistics and the MAC/AC energy proxy of ``model`` over ``batches``.

    Works for any ``nn.Module`` that contains :class:`fastsnn.SpikingNeuron` modules (a
    :class:`~fastsnn.model.SpikingLM`, a converted network); a model without any gives a report
    that says so (not an error).

    :param model: the network; it runs under ``torch.no_grad`` in eval mode (its mode is restored).
    :param batches: inputs, one per forward call: a tensor (``model(x)``), a tuple/list
        (``model(*x)``) or a dict (``model(**x)``). For a language model: token ids ``[B, T]``.
    :param coding: the registered coding ACs are counted under (None: unary, one event per unit
        count, as a binary or ternary code carries it). Steps and events of every registered
        coding are reported either way.
    :param energy: pJ per operation, overriding :class:`EnergyTable`'s defaults (e.g.
        ``{"mac_fp16": 0.9}``).
    :param max_batches: run at most this many batches.
    :param name: the report's title (default: the model's class name).
    :param source: where the batches come from (a file), named in error messages.
    :param progress: show a tqdm progress bar on stderr.
    :raises FastSNNError: no batches; token ids outside the model's vocabulary; a batch the model
        cannot take (wrong shape or type), naming the batch and ``source``; an unknown coding or
        energy-table entry; a coding that cannot carry a layer's counts.
    """
    if not isinstance(model, nn.Module):
        raise FastSNNError(f"scope needs a torch nn.Module, got {type(model).__name__}")
    if max_batches is not None and max_batches <= 0:
        raise FastSNNError(f"max_batches must be positive, got {max_batches}")
    table = EnergyTable.from_overrides(energy)
    report_coding, coding_obj = _report_coding(coding)
    where = source or "scope"
    monitor = SpikeMonitor(model)
    counter = OpCounter(model, monitor.spike_consumers)
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))

    from tqdm.auto import tqdm

    sizes = [n for n in (len(batches) if hasattr(batches, "__len__") else None, max_batches) if n is not None]
    total = min(sizes) if sizes else None
    bar = tqdm(batches, total=total, desc=f"scope {name or type(model).__name__}", unit="batch", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    was_training = model.training
    count, inputs = 0, 0
    model.eval()
    try:
        with torch.no_grad(), monitor.record(stats=True, histograms=True), counter.record():
            for batch in bar:
                if max_batches is not None and count >= max_batches:
                    break
                inputs += _check_batch(batch, vocab, f"{where}: batch {count}")
                _run(model, _to(batch, device), f"{where}: batch {count}")
                counter.end_batch()
                count += 1
    finally:
        bar.close()
        model.train(was_training)
    if count == 0:
        raise FastSNNError(f"{where}: no batches to run; give at least one input")

    recorded = monitor.take_layers()
    codings = _registered_codings()
    layers = [_layer(layer_name, module, recorded[layer_name], codings, report_coding, coding_obj)
              for layer_name, module in monitor.neurons if layer_name in recorded]
    events = {layer.name: layer for layer in layers}
    ops = counter.counted()
    for op in ops:
        layer = events.get(op.fed_by) if op.fed_by is not None else None
        if layer is None:
            op.fed_by = None
        elif layer.values:
            op.acs = op.macs * layer.events / layer.values
    notes = _notes(model, monitor, layers, ops, codings)
    return ScopeReport(name=name or type(model).__name__, model=type(model).__name__, batches=count, inputs=inputs,
                       coding=report_coding, layers=layers, ops=ops, energy=summarize_energy(ops, table), notes=notes)


def _report_coding(coding: str | SpikeCoding | None) -> tuple[str, SpikeCoding | None]:
    if coding is None or coding == UNARY:
        return UNARY, None
    if isinstance(coding, SpikeCoding):
        return coding.name, coding
    from fastsnn.plugins import get_registry

    return str(coding), get_registry().build_ref("coding", coding)  # unknown → did-you-mean


def _registered_codings() -> dict[str, SpikeCoding]:
    from fastsnn.plugins import get_registry

    registry = get_registry()
    out = {}
    for spec in registry.specs("coding"):
        try:
            out[spec.name] = registry.build_ref("coding", spec.name)
        except FastSNNError:  # a coding that needs parameters: left out of the table
            continue
    return out


def _check_batch(batch: Any, vocab: int | None, where: str) -> int:
    """Input values in ``batch``; token ids of a language model are checked against its vocabulary."""
    if isinstance(batch, torch.Tensor):
        if vocab is not None and not batch.dtype.is_floating_point and batch.dtype != torch.bool and batch.numel():
            low, high = int(batch.min()), int(batch.max())
            if low < 0 or high >= vocab:
                bad = low if low < 0 else high
                raise FastSNNError(f"{where}: token id {bad} is outside the model's vocabulary (vocab_size={vocab}); "
                                   "the data was tokenised for another model: tokenise it with this model's tokenizer")
        return batch.numel()
    if isinstance(batch, (tuple, list)):
        return sum(_check_batch(b, vocab, where) for b in batch)
    if isinstance(batch, Mapping):
        return sum(_check_batch(b, vocab, where) for b in batch.values())
    return 0


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(b, device) for b in batch)
    if isinstance(batch, Mapping):
        return {k: _to(v, device) for k, v in batch.items()}
    return batch


def _describe(batch: Any) -> str:
    if isinstance(batch, torch.Tensor):
        return f"a {str(batch.dtype).removeprefix('torch.')} tensor of shape {list(batch.shape)}"
    if isinstance(batch, (tuple, list)):
        return "(" + ", ".join(_describe(b) for b in batch) + ")"
    if isinstance(batch, Mapping):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in batch.items()) + "}"
    return type(batch).__name__


def _run(model: nn.Module, batch: Any, where: str) -> None:
    try:
        if isinstance(batch, Mapping):
            model(**batch)
        elif isinstance(batch, (tuple, list)):
            model(*batch)
        else:
            model(batch)
    except FastSNNError as err:
        raise FastSNNError(f"{where} ({_describe(batch)}): {err}") from None
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FastSNNError(f"{where} ({_describe(batch)}) does not fit {type(model).__name__}: {first}; "
                           "give inputs of the shape and type the model was built for") from None


def _layer(name: str, module: nn.Module, stats: LayerSpikeStats, codings: dict[str, SpikeCoding],
           report_coding: str, coding_obj: SpikeCoding | None) -> LayerScope:
    rates = stats.as_dict()
    histogram = dict(sorted((stats.histogram or {}).items()))
    per_coding = {coding_name: coding_steps(c, histogram) for coding_name, c in codings.items()}
    if coding_obj is None:
        events = unary_events(histogram)
    else:
        chosen = per_coding.get(report_coding) or coding_steps(coding_obj, histogram)
        if chosen.events is None:
            raise FastSNNError(f"layer {name}: coding {report_coding!r} cannot carry its counts "
                               f"{min(histogram)}…{max(histogram)} ({chosen.error}); choose another coding")
        events = chosen.events
    return LayerScope(name=name, neuron=type(module).__name__,
                      units=stats.ever_fired.numel() if stats.ever_fired is not None else 0,
                      values=stats.values, spikes=stats.spikes, histogram=histogram, codings=per_coding,
                      events=int(events), **rates)


def _notes(model: nn.Module, monitor: SpikeMonitor, layers: list[LayerScope], ops: list, codings: dict) -> list[str]:
    notes = []
    if not monitor.neurons:
        notes.append(f"{type(model).__name__} has no spiking layers (no fastsnn.SpikingNeuron module): it is a "
                     "dense network, so there are no spike statistics and every weight layer costs MACs. "
                     "Convert it (fastsnn.convert) or build it with a neuron to see spikes.")
    elif not layers:
        notes.append("the model's spiking layers were never called by these inputs")
    silent = [layer.name for layer in layers if layer.firing_rate == 0]
    if silent:
        notes.append(f"{len(silent)} spiking layer(s) never fired: {', '.join(silent[:5])}"
                     + (" …" if len(silent) > 5 else ""))
    if layers and not any(op.fed_by for op in ops):
        notes.append("no linear or convolution layer reads a neuron's output directly, so no accumulates (ACs) "
                     "were counted; every weight layer is costed as MACs")
    if layers and not codings:
        notes.append("no spike coding is registered (pip install fastsnn-neurons): time steps per coding are not shown")
    return notes


__all__ = ["UNARY", "scope"]
