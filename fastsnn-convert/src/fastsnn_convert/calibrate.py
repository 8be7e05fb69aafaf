"""Calibration: pick each spiking layer's threshold factor ``k`` from activation statistics.

An adaptive-threshold neuron fires ``round(a / V_th)`` spikes with ``V_th = mean(|a|)/k`` per
token, so ``k`` trades accuracy for spikes: the rounding error is at most ``V_th/2`` per value
(shrinks as ``1/k``) while the spike count grows with ``k``. :func:`calibrate` runs the converted
network on sample inputs with its spiking layers bypassed (pure ANN activations), records the
activations ``a`` reaching each neuron (copies: a block that modifies the activation's output
in place afterwards does not change them), and for each layer picks the *smallest* candidate ``k``
whose relative error ``‖neuron(a) − a‖ / ‖a‖`` is within ``max_rel_error`` — the fewest spikes
that meet the accuracy target. It works for any registered neuron with a ``k`` parameter.

Besides that **dynamic** threshold (``method="dynamic"``; ``k`` for a target error or a target
sparsity), the classic ANN→SNN conversion uses a **static** range ``λ`` per layer (Rueckauer et
al. 2017, "Conversion of continuous-valued deep networks to efficient event-driven networks"):
``method="max"`` (the largest activation seen) or ``method="percentile"`` (e.g. the 99.9th, which
ignores outliers) or ``method="mse"`` (the ``λ`` whose ``L``-level quantisation of the recorded
activations has the least squared error — the clipping trade-off of Banner et al. 2019, "Post
training 4-bit quantization of convolutional networks for rapid-deployment", searched on a grid,
which matters most at few levels: few time steps), per layer or per channel. The layer then spikes ``n = clamp(round(a·L/λ), 0, L)``
— ``L`` levels over ``[0, λ]`` — through a fixed-threshold neuron (threshold ``1/L`` on ``a/λ``);
:func:`fastsnn_convert.set_time_steps` sets ``L`` for a coding and a number of time steps.
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

METHODS = ("dynamic", "max", "percentile", "mse")
#: candidate ranges of the mse search, as fractions of the largest |a| (of the layer or channel)
MSE_GRID = torch.linspace(0.02, 1.0, 50)
#: values per layer (or per channel) the mse search evaluates (an even subsample of the recorded ones)
MSE_VALUES = 1 << 16
#: values recorded per layer for a static method (torch.quantile's input limit is 2^24)
MAX_STATIC_VALUES = 1 << 24


@dataclass(frozen=True)
class Trial:
    """One candidate ``k`` measured on a layer's recorded activations."""

    k: float
    rel_error: float
    mean_count: float | None  # mean |spike count| per value (None if the neuron has no spikes())
    sparsity: float | None = None  # fraction of values with count 0 (None if the neuron has no spikes())


@dataclass(frozen=True)
class LayerCalibration:
    """The outcome for one spiking layer."""

    qualname: str
    rows: int  # activation vectors (tokens) recorded
    mean_abs: float  # mean |a| of the recorded activations
    k: float | None  # the chosen threshold factor (None for a static method)
    rel_error: float
    mean_count: float | None
    met: bool  # whether the target (relative error, or sparsity) is met
    trials: tuple[Trial, ...] = ()
    method: str = "dynamic"
    clip: float | None = None  # λ of a static method (the largest, if per channel)
    channels: int = 1  # how many λ (1: per layer)
    sparsity: float | None = None


@dataclass
class CalibrationReport:
    """What :func:`calibrate` chose; ``print(report)`` shows a table."""

    max_rel_error: float
    layers: list[LayerCalibration] = field(default_factory=list)
    method: str = "dynamic"
    target_sparsity: float | None = None

    @property
    def all_met(self) -> bool:
        return all(layer.met for layer in self.layers)

    def __str__(self) -> str:
        rows = []
        for layer in self.layers:
            row = {"layer": layer.qualname, "rows": layer.rows, "mean|a|": f"{layer.mean_abs:.4g}"}
            if self.method == "dynamic":
                row["k"] = f"{layer.k:g}"
            else:
                row["λ"] = f"{layer.clip:.4g}" + (f" (max of {layer.channels})" if layer.channels > 1 else "")
            row.update({"rel.error": f"{layer.rel_error:.4f}",
                        "spikes/value": "-" if layer.mean_count is None else f"{layer.mean_count:.3f}",
                        "sparsity": "-" if layer.sparsity is None else f"{layer.sparsity:.3f}",
                        "target met": "yes" if layer.met else "NO"})
            rows.append(row)
        target = (f"sparsity ≥ {self.target_sparsity:g}" if self.target_sparsity is not None
                  else f"relative error ≤ {self.max_rel_error:g}")
        title = f"calibration ({self.method}; target {target}):"
        return title + "\n" + format_table(rows, rule=False)


DEFAULT_CANDIDATES: tuple[float, ...] = (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32)


def calibrate(
    model: nn.Module,
    batches: Iterable[Any],
    *,
    method: str = "dynamic",
    candidates: Sequence[float] = DEFAULT_CANDIDATES,
    max_rel_error: float = 0.05,
    target_sparsity: float | None = None,
    percentile: float = 99.9,
    per_channel: bool = False,
    channel_axis: int | None = None,
    levels: int = 255,
    max_rows: int = 4096,
) -> CalibrationReport:
    """Calibrate the threshold of every :class:`SpikingActivation` in ``model`` (in place) on ``batches``.

    ``method="dynamic"`` tunes ``k`` of the per-token adaptive threshold ``V_th = mean|a|/k``:
    the smallest candidate within ``max_rel_error``, or — with ``target_sparsity`` — the largest
    ``k`` (the most accurate) whose share of zero counts is still at least ``target_sparsity``.
    ``method="max"`` / ``"percentile"`` / ``"mse"`` set a static range ``λ`` per layer (or per
    channel) and rebuild the layer's neuron with threshold ``1/levels`` and ``max_count=levels`` on
    ``a/λ``; that needs a neuron with ``threshold`` and ``max_count`` parameters
    (``fixed_threshold``). ``"mse"`` picks ``λ`` for ``levels`` levels: calibrate with the levels
    the coding will carry (:func:`fastsnn_convert.evaluate.max_count_for`), since
    :func:`set_time_steps` changes the levels but keeps ``λ``.

    :param model: a converted network: the model of ``snn, report = fastsnn.convert.convert(ann)``.
    :param batches: model inputs: tensors (``model(x)``), tuples (``model(*x)``) or dicts
        (``model(**x)``).
    :param method: ``"dynamic"``, ``"max"``, ``"percentile"`` or ``"mse"``.
    :param candidates: the ``k`` values to try (dynamic).
    :param max_rel_error: accuracy target per layer ``‖out − a‖/‖a‖``; if no candidate meets it the
        most accurate one is used and the layer is reported as not met. Static methods report it.
    :param target_sparsity: (dynamic) aim for at least this share of zero counts instead.
    :param percentile: the percentile of ``|a|`` taken as ``λ`` (``method="percentile"``), in (0, 100].
    :param per_channel: one ``λ`` per channel instead of one per layer (static methods).
    :param channel_axis: the channel axis of the activations (default: 1 where the activation is
        ``[B, C, ...]`` after a convolution, else the last axis).
    :param levels: the count levels over ``[0, λ]`` (static methods; :func:`set_time_steps` changes it).
    :param max_rows: activation vectors kept per layer for the dynamic method (the first ones
        seen); static methods use every batch (up to 2^24 values per layer).
    :raises FastSNNError: no spiking layer, no batches, a batch that is empty or holds NaN/inf, a
        batch the model rejects (its shape), a neuron that cannot be calibrated by ``method``.
    """
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], nn.Module):
        raise FastSNNError(
            f"calibrate() got a tuple ({type(model[0]).__name__}, {type(model[1]).__name__}), not a model: "
            "convert() returns the model and its report; pass the model: snn, report = convert(...); "
            "calibrate(snn, batches)"
        )
    if not isinstance(model, nn.Module):
        raise FastSNNError(f"calibrate() needs an nn.Module, got {type(model).__name__}")
    if method not in METHODS:
        raise FastSNNError(f"calibration method must be one of {', '.join(METHODS)}, got {method!r}")
    if not 0 < percentile <= 100:
        raise FastSNNError(f"percentile must be in (0, 100], got {percentile}")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise FastSNNError(f"levels must be a positive integer, got {levels!r}")
    if target_sparsity is not None and not 0 <= target_sparsity < 1:
        raise FastSNNError(f"target_sparsity must be in [0, 1), got {target_sparsity}")
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
    if method != "dynamic":
        return _calibrate_static(model, layers, batches, method=method, percentile=percentile,
                                 per_channel=per_channel, channel_axis=channel_axis, levels=levels,
                                 max_rel_error=max_rel_error)
    refs = {name: _neuron_ref_with(name, layer, ("k",), "an adaptive-threshold neuron") for name, layer in layers.items()}
    recorded = {name: _rows(acts) for name, acts in _record_activations(model, layers, batches, max_rows).items()}

    report = CalibrationReport(max_rel_error=max_rel_error, target_sparsity=target_sparsity)
    for name, layer in layers.items():
        acts = recorded[name]
        trials, neurons = [], []
        for k in candidates:
            neuron = build_ref("neuron", {**refs[name], "k": k}).to(acts.device)
            trials.append(_measure(neuron, acts, k))
            neurons.append(neuron)
        if target_sparsity is not None:
            good = [i for i, t in enumerate(trials) if t.sparsity is not None and t.sparsity >= target_sparsity]
            best = good[-1] if good else max(range(len(trials)), key=lambda i: trials[i].sparsity or 0.0)
        else:
            good = [i for i, t in enumerate(trials) if t.rel_error <= max_rel_error]
            best = good[0] if good else min(range(len(trials)), key=lambda i: trials[i].rel_error)
        # a rebuilt neuron (the constructor sees the new k), in the mode of the one it replaces
        layer.neuron = neurons[best].train(layer.neuron.training)
        layer.neuron_ref = {**refs[name], "k": trials[best].k}
        report.layers.append(LayerCalibration(
            qualname=name, rows=int(acts.shape[0]), mean_abs=float(acts.abs().mean()), k=trials[best].k,
            rel_error=trials[best].rel_error, mean_count=trials[best].mean_count, met=bool(good),
            trials=tuple(trials), sparsity=trials[best].sparsity,
        ))
    return report


def _calibrate_static(model: nn.Module, layers: dict[str, SpikingActivation], batches: Iterable[Any], *,
                      method: str, percentile: float, per_channel: bool, channel_axis: int | None, levels: int,
                      max_rel_error: float) -> CalibrationReport:
    refs = {name: _neuron_ref_with(name, layer, ("threshold", "max_count"), "a fixed-threshold neuron "
                                   "(convert with neuron='fixed_threshold')") for name, layer in layers.items()}
    recorded = _record_activations(model, layers, batches, None)
    report = CalibrationReport(max_rel_error=max_rel_error, method=method)
    for name, layer in layers.items():
        acts = recorded[name]  # the activations as the model produced them, e.g. [N, C, H, W]
        axis = _channel_axis(acts, layer, channel_axis, name) if per_channel else None
        clip = _static_range(acts, axis, method, percentile, levels=levels, signed=layer.can_be_negative)
        layer.clip = clip.to(acts.dtype)
        fields = get_registry().get("neuron", refs[name]["name"]).params.model_fields
        ref = {**refs[name], "threshold": 1.0 / levels, "max_count": levels}
        if "learnable" in fields:
            ref["learnable"] = False
        layer.neuron = build_ref("neuron", ref).to(acts.device).train(layer.neuron.training)
        layer.neuron_ref = ref
        with torch.no_grad():
            out = layer.neuron(acts / layer.clip) * layer.clip
            counts = layer._spikes_of(acts).counts
            norm = acts.norm()
            rel_error = float((out - acts).norm() / norm) if norm > 0 else 0.0
        report.layers.append(LayerCalibration(
            qualname=name, rows=int(acts.shape[0]), mean_abs=float(acts.abs().mean()), k=None, rel_error=rel_error,
            mean_count=float(counts.abs().float().mean()), met=rel_error <= max_rel_error, method=method,
            clip=float(clip.max()), channels=int(clip.numel()), sparsity=float(counts.eq(0).float().mean()),
        ))
    return report


def _channel_axis(acts: torch.Tensor, layer: SpikingActivation, channel_axis: int | None, name: str) -> int:
    if channel_axis is not None:
        if not -acts.dim() <= channel_axis < acts.dim():
            raise FastSNNError(f"layer {name}: channel_axis={channel_axis} is out of range for activations of shape "
                               f"{tuple(acts.shape)}")
        return channel_axis % acts.dim()
    width = layer.feature_dim
    if acts.dim() >= 3 and acts.shape[1] == width and acts.shape[-1] != width:
        return 1  # [B, C, ...] after a convolution
    return acts.dim() - 1


def _static_range(acts: torch.Tensor, axis: int | None, method: str, percentile: float, *, levels: int = 255,
                  signed: bool = False) -> torch.Tensor:
    """λ: the max, a percentile of ``|a|`` or the mse-optimal range for ``levels`` levels — one
    value, or one per channel shaped to broadcast."""
    magnitude = acts.detach().abs().to(torch.float32)
    if axis is None:
        values = magnitude.reshape(1, -1)
        raw = acts.detach().to(torch.float32).reshape(1, -1)
    else:
        values = magnitude.movedim(axis, -1).reshape(-1, magnitude.shape[axis]).T  # (C, N)
        raw = acts.detach().to(torch.float32).movedim(axis, -1).reshape(-1, acts.shape[axis]).T
    if method == "mse":
        clip = mse_range(raw, levels, signed)
    elif method == "max" or percentile >= 100:
        clip = values.amax(dim=1)
    else:
        step = -(-values.numel() // MAX_STATIC_VALUES)  # torch.quantile takes at most 2^24 values
        clip = torch.quantile(values[:, ::step], percentile / 100, dim=1)
    positive = clip[clip > 0]
    fallback = positive.max() if positive.numel() else torch.tensor(1.0)
    clip = torch.where(clip > 0, clip, fallback)  # a silent channel: any λ gives 0 spikes
    if axis is None:
        return clip.reshape(())
    return clip.reshape(-1, *([1] * (acts.dim() - 1 - axis)))  # e.g. [C, 1, 1] for axis 1 of [N, C, H, W]


def mse_range(values: torch.Tensor, levels: int, signed: bool = False) -> torch.Tensor:
    """The range ``λ`` per row of ``values [C, N]`` minimising ``Σ (q(a) − a)²`` with
    ``q(a) = λ/L · clamp(round(a·L/λ), lo, L)`` (``lo = −L`` if ``signed`` else 0), the fixed-threshold
    neuron's quantisation; searched over :data:`MSE_GRID` fractions of each row's max ``|a|``.

    :returns: ``[C]`` (a row of zeros gets 0: the caller substitutes a positive λ).
    """
    step = max(1, -(-values.shape[1] // MSE_VALUES))
    sample = values[:, ::step]  # (C, n)
    top = sample.abs().amax(dim=1)  # (C,)
    grid = MSE_GRID.to(sample.device)[:, None] * top[None, :]  # (G, C)
    lo = -levels if signed else 0
    best_err = torch.full_like(top, float("inf"))
    best = top.clone()
    for lam in grid:  # one candidate λ per row at a time: memory O(C·n)
        safe = lam.clamp_min(torch.finfo(torch.float32).tiny)[:, None]
        q = (sample * levels / safe).round().clamp(lo, levels) * safe / levels
        err = (q - sample).pow(2).sum(dim=1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best = torch.where(better, lam, best)
    return best


def _neuron_ref_with(qualname: str, layer: SpikingActivation, needed: tuple[str, ...], hint: str) -> dict[str, Any]:
    """The layer's neuron reference as ``{"name": ..., **params}``, checked to have the ``needed`` parameters."""
    registry = get_registry()
    parts = None if layer.neuron_ref is None else registry.ref_parts("neuron", layer.neuron_ref)
    if parts is None:
        raise FastSNNError(f"layer {qualname}: its neuron was not built from a registry reference; cannot rebuild it")
    name, params = parts
    spec = registry.get("neuron", name)
    missing = [p for p in needed if p not in spec.params.model_fields]
    if missing:
        raise FastSNNError(
            f"layer {qualname}: neuron {name!r} has no parameter {missing[0]!r} to calibrate "
            f"(its parameters: {', '.join(spec.params.model_fields) or 'none'}); use {hint}"
        )
    return {"name": name, **params}


def _record_activations(model: nn.Module, layers: dict[str, SpikingActivation], batches: Iterable[Any],
                        max_rows: int | None) -> dict[str, torch.Tensor]:
    """Run the model as the original ANN and record each layer's activations (copies).

    ``max_rows``: keep the first ``max_rows`` vectors ``[rows, D]`` per layer; None: keep the
    activations as they come (``[N, ...]``, batches concatenated), up to 2^24 values per layer.
    """
    recorded: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    counts = dict.fromkeys(layers, 0)
    limit = max_rows if max_rows is not None else MAX_STATIC_VALUES

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            if counts[name] >= limit:
                return
            # a copy: the model may modify the activation's output in place after this hook
            if max_rows is not None:
                kept = output.detach().reshape(-1, output.shape[-1])[: max_rows - counts[name]].clone()
                counts[name] += kept.shape[0]
            else:
                kept = output.detach().clone()
                counts[name] += kept.numel()
            recorded[name].append(kept)
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
                _check_batch(batch, seen)
                try:
                    if isinstance(batch, dict):
                        model(**batch)
                    elif isinstance(batch, (tuple, list)):
                        model(*batch)
                    else:
                        model(batch)
                except Exception as err:
                    raise FastSNNError(
                        f"calibration batch {seen} ({_describe(batch)}): the model rejected it: {type(err).__name__}: "
                        f"{err}; calibration data must be inputs the model takes (e.g. [N, features] for an MLP, "
                        "[N, C, H, W] for a CNN)"
                    ) from err
                seen += 1
                if all(c >= limit for c in counts.values()):
                    break
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if seen == 0:
        raise FastSNNError("calibrate() got no batches; pass an iterable of model inputs")
    out = {}
    for name, parts in recorded.items():
        if not parts or sum(p.numel() for p in parts) == 0:
            raise FastSNNError(f"layer {name} saw no activations during calibration; is it used in forward()?")
        try:
            out[name] = torch.cat(parts)
        except RuntimeError:
            raise FastSNNError(
                f"layer {name}: calibration batches gave activations of different shapes "
                f"({', '.join(str(tuple(p.shape[1:])) for p in parts[:3])}); use batches of one shape"
            ) from None
    return out


def _describe(batch: Any) -> str:
    if isinstance(batch, torch.Tensor):
        return f"shape {tuple(batch.shape)}, {batch.dtype}"
    return type(batch).__name__


def _check_batch(batch: Any, index: int) -> None:
    """A calibration batch must hold non-empty, finite tensors."""
    tensors = [batch] if isinstance(batch, torch.Tensor) else list(batch.values()) if isinstance(batch, dict) \
        else list(batch) if isinstance(batch, (tuple, list)) else []
    for tensor in tensors:
        if not isinstance(tensor, torch.Tensor):
            continue
        if tensor.numel() == 0:
            raise FastSNNError(f"calibration batch {index} is empty (shape {tuple(tensor.shape)}); pass at least one sample")
        if tensor.dtype.is_floating_point and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise FastSNNError(
                f"calibration batch {index} holds {bad} NaN/inf value(s) (shape {tuple(tensor.shape)}); "
                "calibration data must be finite — clean or drop those samples"
            )


def _rows(acts: torch.Tensor) -> torch.Tensor:
    return acts.reshape(-1, acts.shape[-1])


def _measure(neuron: nn.Module, acts: torch.Tensor, k: float) -> Trial:
    with torch.no_grad():
        out = neuron(acts)
        norm = acts.norm()
        rel_error = float((out - acts).norm() / norm) if norm > 0 else 0.0
        spikes = getattr(neuron, "spikes", None)
        counts = spikes(acts).counts if spikes is not None else None
    mean_count = float(counts.abs().float().mean()) if counts is not None else None
    sparsity = float(counts.eq(0).float().mean()) if counts is not None else None
    return Trial(k=k, rel_error=rel_error, mean_count=mean_count, sparsity=sparsity)
