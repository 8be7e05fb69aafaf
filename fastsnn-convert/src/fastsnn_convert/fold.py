"""BatchNorm folding: a BatchNorm after a Linear/Conv becomes part of that layer's weights.

In eval mode BatchNorm is a per-channel affine map, ``y = γ (z − μ) / √(σ² + ε) + β`` with the
running mean ``μ`` and variance ``σ²``. Applied to ``z = W x + b`` it is the layer
``W' = W · γ/√(σ²+ε)`` (per output channel), ``b' = (b − μ) · γ/√(σ²+ε) + β`` (Ioffe & Szegedy
2015; the standard fold of inference engines). After folding, the BatchNorm is an ``nn.Identity``.

A pair is folded only where the BatchNorm is fed by that layer alone and nothing else reads the
layer's output: found by tracing the model with ``torch.fx`` (children of
``nn.Sequential`` containers by adjacency where the model does not trace). A BatchNorm that
computes batch statistics at inference (``track_running_stats=False``) is not folded.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import fx, nn

from fastsnn.convert import CONVERTED_MARK, PREPARED, Replacement

#: layers a BatchNorm can be folded into, and the BatchNorms
FOLD_TARGETS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def fold_batchnorm(model: nn.Module) -> list[Replacement]:
    """Fold every BatchNorm that directly follows a Linear/Conv into it, in place.

    :returns: one :class:`~fastsnn.convert.Replacement` per folded BatchNorm (now an
        ``nn.Identity``), its note naming the layer it went into. A BatchNorm left as it is (no
        layer of its own before it) stays in the model, and the conversion report lists it as kept.
    """
    if not any(isinstance(m, BATCH_NORMS) for m in model.modules()):
        return []
    pairs, how = _pairs(model)
    records = []
    for layer_name, norm_name in pairs:
        layer, norm = model.get_submodule(layer_name), model.get_submodule(norm_name)
        if not _foldable(layer, norm):
            continue
        _fold_into(layer, norm)
        identity = nn.Identity()
        setattr(identity, CONVERTED_MARK, PREPARED)
        parent_name, _, child = norm_name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, identity)
        records.append(Replacement(
            norm_name, type(norm).__name__, "Identity", "", norm.num_features,
            f"folded into {layer_name} ({type(layer).__name__}; running statistics: exact in eval mode; {how})"))
    return records


def _pairs(model: nn.Module) -> tuple[list[tuple[str, str]], str]:
    """``(layer, batchnorm)`` qualname pairs where the BatchNorm reads only that layer's output."""
    counts: dict[int, int] = {}
    for _name, module in model.named_modules(remove_duplicate=False):
        counts[id(module)] = counts.get(id(module), 0) + 1
    used_once = {name for name, m in model.named_modules() if counts[id(m)] == 1}
    try:
        graph = fx.Tracer().trace(model)
    except Exception:  # any failure of user code under tracing: fall back to containers
        return _sequential_pairs(model, used_once), "adjacent in an nn.Sequential (the model does not trace)"
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(model.get_submodule(str(node.target)), BATCH_NORMS):
            continue
        source = node.args[0] if node.args else None
        if not (isinstance(source, fx.Node) and source.op == "call_module" and len(source.users) == 1):
            continue
        layer_name, norm_name = str(source.target), str(node.target)
        if not isinstance(model.get_submodule(layer_name), FOLD_TARGETS):
            continue
        if calls[layer_name] == 1 and calls[norm_name] == 1 and {layer_name, norm_name} <= used_once:
            pairs.append((layer_name, norm_name))
    return pairs, "found by tracing the model"


def _sequential_pairs(model: nn.Module, used_once: set[str]) -> list[tuple[str, str]]:
    pairs = []
    for name, module in model.named_modules():
        if type(module) is not nn.Sequential:
            continue
        children = list(module.named_children())
        for (a_name, a), (b_name, b) in itertools.pairwise(children):
            full_a, full_b = (f"{name}.{a_name}" if name else a_name), (f"{name}.{b_name}" if name else b_name)
            if isinstance(a, FOLD_TARGETS) and isinstance(b, BATCH_NORMS) and {full_a, full_b} <= used_once:
                pairs.append((full_a, full_b))
    return pairs


def _foldable(layer: Any, norm: Any) -> bool:
    channels = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
    return (norm.track_running_stats and norm.running_mean is not None and norm.num_features == channels
            and not getattr(layer, CONVERTED_MARK, False))


@torch.no_grad()
def _fold_into(layer: nn.Module, norm: nn.modules.batchnorm._BatchNorm) -> None:
    std = torch.sqrt(norm.running_var.to(torch.float64) + norm.eps)
    gamma = norm.weight.to(torch.float64) if norm.weight is not None else torch.ones_like(std)
    beta = norm.bias.to(torch.float64) if norm.bias is not None else torch.zeros_like(std)
    factor = gamma / std  # (C,)
    weight = layer.weight.to(torch.float64)
    layer.weight.copy_(weight * factor.view(-1, *([1] * (weight.dim() - 1))))
    bias = layer.bias.to(torch.float64) if layer.bias is not None else torch.zeros_like(std)
    new_bias = (bias - norm.running_mean.to(torch.float64)) * factor + beta
    if layer.bias is None:
        layer.bias = nn.Parameter(new_bias.to(layer.weight.dtype), requires_grad=layer.weight.requires_grad)
    else:
        layer.bias.copy_(new_bias)
