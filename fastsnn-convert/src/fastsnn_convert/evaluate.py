"""A calibrated network at ``T`` time steps under a coding: counts bounded to fit, then run in count
mode or event-driven, with its spiking activity per layer.

``set_time_steps(snn, "bitwise", 4)`` bounds every spiking layer's counts to what 4 steps of the
coding carry (``L`` = 15 for bitwise, 4 for binary; :func:`~fastsnn_convert.events.max_count_for`)
— for a statically calibrated layer, ``L`` levels over its range ``λ`` (threshold ``λ/L``).
:func:`evaluate` runs inputs through a copy set to ``T`` steps and reports the outputs, the
accuracy against labels, spikes per inference and each layer's sparsity.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fastsnn import FastSNNError, build_ref, get_registry
from fastsnn.spike_tensor import resolve_coding
from fastsnn_convert.events import EventRecord, LayerActivity, max_count_for
from fastsnn_convert.inference import event_inference
from fastsnn_convert.modules import SpikingActivation

MODES = ("count", "event")


def set_time_steps(model: nn.Module, coding: Any, num_steps: int) -> dict[str, int]:
    """Bound every :class:`SpikingActivation`'s counts to fit ``num_steps`` steps of ``coding`` (in place).

    Each layer's neuron is rebuilt (through the registry, from its reference) with ``max_count = L``,
    the largest count the coding carries in ``num_steps`` steps (signed layers: ``±L``); a layer with a
    static range ``λ`` (:func:`~fastsnn_convert.calibrate` with ``method="max"``/``"percentile"``) also gets
    threshold ``1/L`` on ``a/λ`` — ``L`` levels over ``[0, λ]``.

    :returns: ``{layer: L}``.
    :raises FastSNNError: no spiking layer; a neuron without a ``max_count`` parameter; a signed
        layer with an unsigned coding.
    """
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, SpikingActivation)]
    if not layers:
        raise FastSNNError(f"{type(model).__name__} has no spiking activations; convert it first (fastsnn.convert.convert)")
    registry = get_registry()
    chosen = {}
    for name, layer in layers:
        parts = None if layer.neuron_ref is None else registry.ref_parts("neuron", layer.neuron_ref)
        if parts is None:
            raise FastSNNError(f"layer {name}: its neuron was not built from a registry reference; cannot rebuild it")
        neuron_name, params = parts
        fields = registry.get("neuron", neuron_name).params.model_fields
        if "max_count" not in fields:
            raise FastSNNError(
                f"layer {name}: neuron {neuron_name!r} has no 'max_count' parameter, so its counts cannot be bounded "
                f"to {num_steps} steps; use adaptive_threshold or fixed_threshold"
            )
        try:
            levels = max_count_for(coding, num_steps, signed=layer.can_be_negative)
        except FastSNNError as err:
            raise FastSNNError(f"layer {name}: {err}") from None
        ref = {"name": neuron_name, **params, "max_count": levels}
        if layer.clip is not None:
            ref["threshold"] = 1.0 / levels
        device = next((t.device for t in layer.neuron.state_dict().values()), None)
        neuron = build_ref("neuron", ref).train(layer.neuron.training)
        layer.neuron = neuron.to(device) if device is not None else neuron
        layer.neuron_ref = ref
        chosen[name] = levels
    return chosen


@dataclass
class Evaluation:
    """One run of :func:`evaluate`."""

    coding: str
    num_steps: int
    mode: str
    outputs: torch.Tensor
    samples: int
    accuracy: float | None = None  # top-1 against the labels, if given
    layers: list[LayerActivity] = field(default_factory=list)
    levels: dict[str, int] = field(default_factory=dict)

    @property
    def spikes_per_sample(self) -> float:
        """Spikes (non-zero events) per inference, all spiking layers together."""
        return sum(layer.spikes for layer in self.layers) / self.samples if self.samples else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "coding": self.coding, "T": self.num_steps, "mode": self.mode, "samples": self.samples,
            "accuracy": self.accuracy, "spikes_per_sample": self.spikes_per_sample,
            "layers": [{"layer": a.qualname, "levels": self.levels.get(a.qualname), "sparsity": a.sparsity,
                        "spikes_per_sample": a.spikes_per_sample, "spike_rate": a.spike_rate} for a in self.layers],
        }


def evaluate(model: nn.Module, inputs: torch.Tensor, *, coding: Any = "bitwise", num_steps: int = 4,
             mode: str = "event", targets: torch.Tensor | None = None, batch_size: int = 256) -> Evaluation:
    """Run ``inputs [N, ...]`` through a copy of ``model`` set to ``num_steps`` steps of ``coding``.

    ``mode="event"`` runs :func:`~fastsnn_convert.event_inference` (every layer hands on spike trains,
    synaptic layers integrate them step by step); ``mode="count"`` runs the time-collapsed counts
    (the same outputs up to float rounding, and the same spikes: counted as the events the coding
    would emit). ``model`` itself is not changed.

    :returns: an :class:`Evaluation`: outputs ``[N, ...]``, top-1 accuracy if ``targets [N]`` is
        given, spikes per inference and per-layer activity.
    """
    if mode not in MODES:
        raise FastSNNError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not isinstance(inputs, torch.Tensor) or inputs.dim() == 0 or inputs.shape[0] == 0:
        raise FastSNNError("evaluate() needs inputs as a tensor [N, ...] with at least one sample")
    if targets is not None and (not isinstance(targets, torch.Tensor) or targets.shape[:1] != inputs.shape[:1]):
        raise FastSNNError(f"targets must be a tensor [N] with N = {inputs.shape[0]} labels")
    coding_obj = resolve_coding(coding)
    snn = copy.deepcopy(model).eval()
    levels = set_time_steps(snn, coding_obj, num_steps)
    outputs = []
    with torch.no_grad():
        if mode == "event":
            with event_inference(snn, coding_obj, num_steps) as record:
                for start in range(0, inputs.shape[0], batch_size):
                    outputs.append(snn(inputs[start:start + batch_size]))
        else:
            record = EventRecord(coding_obj, num_steps)
            handles = [layer.register_forward_hook(_count_hook(layer, name, record, coding_obj, num_steps))
                       for name, layer in snn.named_modules() if isinstance(layer, SpikingActivation)]
            try:
                for start in range(0, inputs.shape[0], batch_size):
                    outputs.append(snn(inputs[start:start + batch_size]))
            finally:
                for handle in handles:
                    handle.remove()
    out = torch.cat(outputs)
    accuracy = None
    if targets is not None:
        accuracy = float((out.argmax(-1) == targets.to(out.device)).float().mean())
    return Evaluation(coding_obj.name, num_steps, mode, out, int(inputs.shape[0]), accuracy,
                      list(record.layers.values()), levels)


def _count_hook(layer: SpikingActivation, name: str, record: EventRecord, coding: Any, num_steps: int) -> Any:
    def hook(_module: nn.Module, inputs: tuple, _output: Any) -> None:
        counts = layer.spikes(inputs[0]).counts.detach().round().to(torch.int64)
        record.layer(name).add(counts, coding.encode(counts, num_steps))
    return hook
