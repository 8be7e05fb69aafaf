"""Calibration: pick each spiking layer's threshold factor ``k`` from activation statistics.

An adaptive-threshold neuron fires ``round(a / V_th)`` spikes with ``V_th = mean(|a|)/k`` per
token, so ``k`` trades accuracy for spikes: the rounding error is at most ``V_th/2`` per value
(shrinks as ``1/k``) while the spike count grows with ``k``. :func:`calibrate` runs the converted
network on sample inputs with its spiking layers bypassed (pure ANN activations), records the
activations ``a`` reaching each neuron (copies: a block that modifies the activation's output
in place afterwards does not change them), and for each layer picks the *smallest* candidate ``k``
whose relative error ``‖neuron(a) − a‖ / ‖a‖`` is within ``max_rel_error`` — the fewest spikes
that meet the accuracy target. It works for any registered neuron with a ``k`` parameter.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from fastsnn import FastSNNError, build_ref, get_registry
from fastsnn.tables import format_table
from fastsnn_convert.modules import SpikingActivation


@dataclass(frozen=True)
class Trial:
    """One candidate ``k`` measured on a layer's recorded activations."""

    k: float
    rel_error: float
    mean_count: float | None  # mean |spike count| per value (None if the neuron has no spikes())


@dataclass(frozen=True)
class LayerCalibration:
    """The outcome for one spiking layer."""

    qualname: str
    rows: int  # activation vectors (tokens) recorded
    mean_abs: float  # mean |a| of the recorded activations
    k: float  # the chosen threshold factor
    rel_error: float
    mean_count: float | None
    met: bool  # whether rel_error <= max_rel_error
    trials: tuple[Trial, ...] = ()


@dataclass
class CalibrationReport:
    """What :func:`calibrate` chose; ``print(report)`` shows a table."""

    max_rel_error: float
    layers: list[LayerCalibration] = field(default_factory=list)

    @property
    def all_met(self) -> bool:
        return all(layer.met for layer in self.layers)

    def __str__(self) -> str:
        rows = [{"layer": layer.qualname, "rows": layer.rows, "mean|a|": f"{layer.mean_abs:.4g}", "k": f"{layer.k:g}",
                 "rel.error": f"{layer.rel_error:.4f}",
                 "spikes/value": "-" if layer.mean_count is None else f"{layer.mean_count:.3f}",
                 "target met": "yes" if layer.met else "NO"} for layer in self.layers]
        title = f"calibration (target relative error ≤ {self.max_rel_error:g}):"
        return title + "\n" + format_table(rows, rule=False)


DEFAULT_CANDIDATES: tuple[float, ...] = (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32)


def calibrate(
    model: nn.Module,
    batches: Iterable[Any],
    *,
    candidates: Sequence[float] = DEFAULT_CANDIDATES,
    max_rel_error: float = 0.05,
    max_rows: int = 4096,
) -> CalibrationReport:
    """Tune ``k`` of every :class:`SpikingActivation` in ``model`` (in place) on ``batches``.

    :param model: a converted network: the model of ``snn, report = fastsnn.convert.convert(ann)``.
    :param batches: model inputs: tensors (``model(x)``), tuples (``model(*x)``) or dicts
        (``model(**x)``).
    :param candidates: the ``k`` values to try.
    :param max_rel_error: accuracy target per layer; if no candidate meets it the most accurate
        one is used and the layer is reported as not met.
    :param max_rows: activation vectors kept per layer (the first ones seen).
    """
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], nn.Module):
        raise FastSNNError(
            f"calibrate() got a tuple ({type(model[0]).__name__}, {type(model[1]).__name__}), not a model: "
            "convert() returns the model and its report; pass the model: snn, report = convert(...); "
            "calibrate(snn, batches)"
        )
    if not isinstance(model, nn.Module):
        raise FastSNNError(f"calibrate() needs an nn.Module, got {type(model).__name__}")
    candidates = sorted(float(k) for k in candidates)
    if not candidates or candidates[0] <= 0:
        raise FastSNNError(f"candidates must be a non-empty list of positive k values, got {candidates}")
    if not max_rel_error > 0:
        raise FastSNNError(f"max_rel_error must be positive, got {max_rel_error}")
    if max_rows <= 0:
        raise FastSNNError(f"max_rows must be positive, got {max_rows}")
    layers = {name: m for name, m in model.named_modules() if isinstance(m, SpikingActivation)}
    if not layers:
        raise FastSNNError(
            "the model has no spiking activations to calibrate; convert it first with fastsnn.convert.convert"
        )
    refs = {name: _neuron_ref_with_k(name, layer) for name, layer in layers.items()}
    recorded = _record_activations(model, layers, batches, max_rows)

    report = CalibrationReport(max_rel_error=max_rel_error)
    for name, layer in layers.items():
        acts = recorded[name]
        if acts.shape[0] == 0:
            raise FastSNNError(f"layer {name} saw no activations during calibration; is it used in forward()?")
        trials, neurons = [], []
        for k in candidates:
            neuron = build_ref("neuron", {**refs[name], "k": k}).to(acts.device)
            trials.append(_measure(neuron, acts, k))
            neurons.append(neuron)
        good = [i for i, t in enumerate(trials) if t.rel_error <= max_rel_error]
        best = good[0] if good else min(range(len(trials)), key=lambda i: trials[i].rel_error)
        # a rebuilt neuron (the constructor sees the new k), in the mode of the one it replaces
        layer.neuron = neurons[best].train(layer.neuron.training)
        layer.neuron_ref = {**refs[name], "k": trials[best].k}
        report.layers.append(LayerCalibration(
            qualname=name, rows=int(acts.shape[0]), mean_abs=float(acts.abs().mean()), k=trials[best].k,
            rel_error=trials[best].rel_error, mean_count=trials[best].mean_count, met=bool(good),
            trials=tuple(trials),
        ))
    return report


def _neuron_ref_with_k(qualname: str, layer: SpikingActivation) -> dict[str, Any]:
    """The layer's neuron reference as ``{"name": ..., **params}``, checked to have a ``k``."""
    registry = get_registry()
    parts = None if layer.neuron_ref is None else registry.ref_parts("neuron", layer.neuron_ref)
    if parts is None:
        raise FastSNNError(f"layer {qualname}: its neuron was not built from a registry reference; cannot rebuild it")
    name, params = parts
    spec = registry.get("neuron", name)
    if "k" not in spec.params.model_fields:
        raise FastSNNError(
            f"layer {qualname}: neuron {name!r} has no parameter 'k' to calibrate "
            f"(its parameters: {', '.join(spec.params.model_fields) or 'none'}); use an adaptive-threshold neuron"
        )
    return {"name": name, **params}


def _record_activations(model: nn.Module, layers: dict[str, SpikingActivation], batches: Iterable[Any],
                        max_rows: int) -> dict[str, torch.Tensor]:
    """Run the model as the original ANN and keep the first ``max_rows`` activation rows per layer."""
    recorded: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    counts = dict.fromkeys(layers, 0)

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            if counts[name] >= max_rows:
                return
            # a copy: the model may modify the activation's output in place after this hook
            rows = output.detach().reshape(-1, output.shape[-1])[: max_rows - counts[name]].clone()
            recorded[name].append(rows)
            counts[name] += rows.shape[0]
        return hook

    handles = [layer.activation.register_forward_hook(hook_for(name)) for name, layer in layers.items()]
    was_training = model.training
    seen = 0
    try:
        model.eval()
        with torch.no_grad(), ExitStack() as stack:
            for layer in layers.values():
                stack.enter_context(layer.bypassed())
            for batch in batches:
                seen += 1
                if isinstance(batch, dict):
                    model(**batch)
                elif isinstance(batch, (tuple, list)):
                    model(*batch)
                else:
                    model(batch)
                if all(c >= max_rows for c in counts.values()):
                    break
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if seen == 0:
        raise FastSNNError("calibrate() got no batches; pass an iterable of model inputs")
    return {name: torch.cat(rows) if rows else torch.empty(0, 1) for name, rows in recorded.items()}


def _measure(neuron: nn.Module, acts: torch.Tensor, k: float) -> Trial:
    with torch.no_grad():
        out = neuron(acts)
        norm = acts.norm()
        rel_error = float((out - acts).norm() / norm) if norm > 0 else 0.0
        spikes = getattr(neuron, "spikes", None)
        mean_count = float(spikes(acts).counts.abs().float().mean()) if spikes is not None else None
    return Trial(k=k, rel_error=rel_error, mean_count=mean_count)
