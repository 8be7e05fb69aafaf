"""W8ASpike for Hugging Face models: every Linear of the transformer blocks reads spikes.

SpikingBrain ("SpikingBrain Technical Report", BIClab 2025, §4) deploys its models as
*W8ASpike*: int8 weights, and activations turned into integer spike counts by the
adaptive-threshold neuron (``V_th = mean|x|/k`` per token, ``n = round(x / V_th)``) before each
linear map. :func:`w8aspike` applies that to a BERT-, GPT-2- or Llama/Qwen2-family model of
``transformers`` *in place*: each ``nn.Linear`` (and GPT-2's ``Conv1D``) inside its blocks —
the q/k/v/o projections and the FFN projections — becomes a :class:`SpikeInputLinear`
(neuron → linear), optionally with the weight stored as :class:`fastsnn.quantize.Int8Linear`, whose
int8 × int8 path multiplies the spike counts exactly. Embeddings, norms, the LM head and task
heads are left as they are. :func:`fastsnn_convert.hf.fidelity.measure_fidelity` compares the
result with the float model.

The neuron is found by name in the registry (``"adaptive_threshold"`` of fastsnn-neurons by
default); this package never imports the neuron package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from fastsnn.errors import FastSNNError
from fastsnn.factory import build_ref
from fastsnn.kind_table import DEFAULT_NEURON
from fastsnn.neuron import SpikingNeuron
from fastsnn.quantize import Int8Linear, check_group_size
from fastsnn_convert.hf.architectures import architecture_of, blocks_of
from fastsnn_convert.hf.lazy import conv1d_class

WEIGHT_FORMATS = ("float", "int8")


class SpikeInputLinear(nn.Module):
    """``y = linear(neuron(x))``: the input ``x [..., in]`` becomes integer spike counts × a scale
    (the neuron's count view) before the linear map; → ``[..., out]``.

    ``linear`` is an ``nn.Linear`` (the spikes' real value ``counts · V_th`` is multiplied) or an
    :class:`~fastsnn.quantize.Int8Linear` (it takes the count-view SpikeTensor and multiplies the
    integer counts by the int8 weight). While :attr:`recording` is true the counts are tallied in
    :attr:`stats` (``values``, ``zeros``, ``spikes`` = Σ|n|, ``max_count`` = max|n|: counts within
    ±127 fit the int8 × int8 product).
    """

    def __init__(self, linear: nn.Module, neuron: nn.Module) -> None:
        super().__init__()
        if not isinstance(neuron, SpikingNeuron):
            raise FastSNNError(f"SpikeInputLinear needs a fastsnn SpikingNeuron, got {type(neuron).__name__}")
        self.neuron, self.linear = neuron, linear
        self.recording = False
        self.reset_stats()

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def reset_stats(self) -> None:
        self.stats = {"values": 0, "zeros": 0, "spikes": 0.0, "max_count": 0.0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spikes = self.neuron.spikes(x)  # count view: counts [..., in] × scale [..., 1]
        if self.recording:
            counts = spikes.counts.detach()
            self.stats["values"] += counts.numel()
            self.stats["zeros"] += int((counts == 0).sum())
            self.stats["spikes"] += float(counts.abs().sum())
            self.stats["max_count"] = max(self.stats["max_count"], float(counts.abs().max()))
        if getattr(self.linear, "accepts_spikes", False):
            return self.linear(spikes)
        return self.linear(spikes.to_dense())


@dataclass
class W8ASpikeReport:
    """What :func:`w8aspike` changed: the dotted names of the converted layers (``modules``), the
    architecture family, the weight format, the neuron reference and the layers left as they are
    (``kept``: linear layers outside the blocks, e.g. ``lm_head``)."""

    family: str
    weights: str
    neuron: Any
    modules: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"W8ASpike ({self.family}): {len(self.modules)} linear layers read spikes of {self.neuron!r}, "
                f"weights {self.weights}; kept as they were: {', '.join(self.kept) or 'none'}")


def as_linear(module: nn.Module) -> nn.Linear:
    """An ``nn.Linear`` equal to ``module``: itself, or GPT-2's ``Conv1D`` (``y = x W + b`` with
    ``W [in, out]``) with its weight transposed to ``[out, in]``."""
    if isinstance(module, nn.Linear):
        return module
    weight, bias = module.weight, getattr(module, "bias", None)
    linear = nn.Linear(weight.shape[0], weight.shape[1], bias=bias is not None, device=weight.device,
                       dtype=weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(weight.t())
        if bias is not None:
            linear.bias.copy_(bias)
    linear.weight.requires_grad_(weight.requires_grad)
    return linear


def w8aspike(model: nn.Module, *, neuron: Any = DEFAULT_NEURON, weights: Literal["float", "int8"] = "int8",
             group_size: int | None = None) -> W8ASpikeReport:
    """Spike the input of every linear layer in ``model``'s transformer blocks, in place.

    :param model: a ``transformers`` model of a supported architecture (see
        :data:`fastsnn_convert.hf.architectures.ARCHITECTURES`: BERT/RoBERTa, GPT-2, Llama,
        Mistral, Qwen2), with or without its head (``BertModel``, ``LlamaForCausalLM``, …).
    :param neuron: a registered neuron by name or table, e.g. ``"adaptive_threshold"`` (default,
        SpikingBrain's sINT neuron, signed, ``k=3``) or ``{"name": "adaptive_threshold", "k": 8}``;
        each layer gets its own instance.
    :param weights: ``"int8"`` — each layer's weight as :class:`~fastsnn.quantize.Int8Linear`
        (symmetric, per output channel or per ``group_size`` columns), its integer spike counts
        multiplied in int8 × int8 where they fit; ``"float"`` — the weights as they are.
    :returns: a :class:`W8ASpikeReport`.
    :raises FastSNNError: an unsupported architecture (listing the supported ones), an unknown
        neuron name (listing the installed ones), a bad weight format or group size, or a model
        converted already.
    """
    arch = architecture_of(model)
    if weights not in WEIGHT_FORMATS:
        raise FastSNNError(f"unknown weight format {weights!r}; W8ASpike takes one of: {', '.join(WEIGHT_FORMATS)}")
    check_group_size(group_size)
    if any(isinstance(m, SpikeInputLinear) for m in model.modules()):
        raise FastSNNError(f"{type(model).__name__} has spiking inputs already (w8aspike was applied); "
                           "convert the original float model")
    build_ref("neuron", neuron)  # fail on a bad neuron before anything changes
    conv1d = conv1d_class()
    linear_types = (nn.Linear,) if conv1d is None else (nn.Linear, conv1d)
    blocks = blocks_of(model, arch)
    block_ids = {id(m) for m in blocks.modules()}
    report = W8ASpikeReport(arch.family, weights, neuron)
    targets = []
    for name, module in model.named_modules():
        for child_name, child in module.named_children():
            if isinstance(child, linear_types):
                full = f"{name}.{child_name}" if name else child_name
                (targets.append((module, child_name, full, child)) if id(child) in block_ids
                 else report.kept.append(full))
    for parent, attr, full, child in targets:
        linear = as_linear(child)
        if weights == "int8":
            linear = Int8Linear.from_linear(linear, group_size)
        setattr(parent, attr, SpikeInputLinear(linear, build_ref("neuron", neuron)))
        report.modules.append(full)
    if not report.modules:
        raise FastSNNError(f"{type(model).__name__}: no linear layer found in its blocks; nothing to convert")
    return report


def spike_input_layers(model: nn.Module) -> dict[str, SpikeInputLinear]:
    """The :class:`SpikeInputLinear` layers of ``model`` by dotted name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, SpikeInputLinear)}


__all__ = ["WEIGHT_FORMATS", "SpikeInputLinear", "W8ASpikeReport", "as_linear", "spike_input_layers", "w8aspike"]
