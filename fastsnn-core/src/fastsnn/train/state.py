"""Training state as safetensors tensors + JSON (never pickle): optimizer, RNG and data position.

Optimizer state is keyed by parameter *name*, not by position, so a checkpoint names the tensor
that does not fit when a model changed. Every loader validates names and shapes and raises a
:class:`~fastsnn.FastSNNError` naming the file and the tensor.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastsnn.errors import FastSNNError

OPTIMIZER_PREFIX = "optimizer."
DATA_PREFIX = "data."
RNG_TORCH = "rng.torch"
RNG_CUDA_PREFIX = "rng.cuda."


def parameter_names(model: nn.Module) -> dict[int, str]:
    """``id(parameter) → name`` (shared parameters keep their first name)."""
    return {id(p): name for name, p in model.named_parameters()}


def optimizer_state(optimizer: torch.optim.Optimizer, names: dict[int, str]) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors (``optimizer.<param>.<key>``) and JSON."""
    index_to_name = _index_to_name(optimizer, names)
    raw = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in raw["state"].items():
        name = index_to_name[index]
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{OPTIMIZER_PREFIX}{name}.{key}"] = value
            else:
                scalars.setdefault(name, {})[key] = value
    groups = [
        {**{k: v for k, v in group.items() if k != "params"}, "params": [index_to_name[i] for i in group["params"]]}
        for group in raw["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def load_optimizer_state(optimizer: torch.optim.Optimizer, names: dict[int, str], tensors: dict[str, torch.Tensor],
                         meta: dict[str, Any], source: Path) -> None:
    """Restore what :func:`optimizer_state` saved; names and shapes must match this model."""
    index_to_name = _index_to_name(optimizer, names)
    name_to_index = {n: i for i, n in index_to_name.items()}
    params_by_name = {names[id(p)]: p for group in optimizer.param_groups for p in group["params"]}
    try:
        saved_groups = meta["param_groups"]
        scalars = meta.get("scalars", {})
        group_names = [list(g["params"]) for g in saved_groups]
    except (KeyError, TypeError) as err:
        raise FastSNNError(f"{source}: optimizer section is malformed ({err}); the checkpoint is corrupt") from None
    current_names = [[index_to_name[id_index] for id_index in _group_indices(optimizer, gi)]
                     for gi in range(len(optimizer.param_groups))]
    if group_names != current_names:
        missing = sorted(set(name_to_index) - {n for g in group_names for n in g})
        extra = sorted({n for g in group_names for n in g} - set(name_to_index))
        detail = "; ".join(filter(None, [
            f"parameters not in the checkpoint: {', '.join(missing[:8])}" if missing else "",
            f"parameters not in the model: {', '.join(extra[:8])}" if extra else "",
        ])) or "parameter groups are ordered differently"
        raise FastSNNError(f"{source}: the optimizer state does not match this model ({detail})")
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        if not key.startswith(OPTIMIZER_PREFIX):
            continue
        name, _, slot = key[len(OPTIMIZER_PREFIX):].rpartition(".")
        if name not in params_by_name:
            raise FastSNNError(f"{source}: tensor {key!r} belongs to parameter {name!r}, which the model does not have")
        param = params_by_name[name]
        if tensor.dim() > 0 and tensor.shape != param.shape:
            raise FastSNNError(
                f"{source}: tensor {key!r} has shape {tuple(tensor.shape)}, but parameter {name!r} has shape "
                f"{tuple(param.shape)}"
            )
        state.setdefault(name_to_index[name], {})[slot] = tensor.to(param.device)
    for name, values in scalars.items():
        if name in name_to_index:
            state.setdefault(name_to_index[name], {}).update(values)
    groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [name_to_index[n] for n in g["params"]]}
              for g in saved_groups]
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The torch (CPU and CUDA) and Python ``random`` generator states."""
    tensors = {RNG_TORCH: torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"{RNG_CUDA_PREFIX}{i}"] = state
    version, internal, gauss = random.getstate()
    return tensors, {"python": [version, list(internal), gauss]}


def load_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any], source: Path) -> None:
    """Restore what :func:`rng_state` saved."""
    if RNG_TORCH not in tensors:
        raise FastSNNError(f"{source}: tensor {RNG_TORCH!r} is missing; the checkpoint is incomplete")
    torch.set_rng_state(tensors[RNG_TORCH].to(torch.uint8))
    cuda = sorted((k for k in tensors if k.startswith(RNG_CUDA_PREFIX)), key=lambda k: int(k.rsplit(".", 1)[1]))
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([tensors[k].to(torch.uint8) for k in cuda])
    python = meta.get("python")
    if python is not None:
        try:
            random.setstate((python[0], tuple(python[1]), python[2]))
        except (TypeError, ValueError, IndexError) as err:
            raise FastSNNError(f"{source}: the saved Python RNG state is malformed ({err})") from None


def split_data_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A data source's ``state_dict()`` → (tensors under ``data.<key>``, JSON-able rest)."""
    tensors = {f"{DATA_PREFIX}{k}": v for k, v in state.items() if isinstance(v, torch.Tensor)}
    rest = {k: v for k, v in state.items() if not isinstance(v, torch.Tensor)}
    return tensors, rest


def join_data_state(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`split_data_state`."""
    joined = dict(rest)
    joined.update({k[len(DATA_PREFIX):]: v for k, v in tensors.items() if k.startswith(DATA_PREFIX)})
    return joined


def _index_to_name(optimizer: torch.optim.Optimizer, names: dict[int, str]) -> dict[int, str]:
    out, index = {}, 0
    for group in optimizer.param_groups:
        for p in group["params"]:
            if id(p) not in names:
                raise FastSNNError("the optimizer holds a parameter that is not part of the model")
            out[index] = names[id(p)]
            index += 1
    return out


def _group_indices(optimizer: torch.optim.Optimizer, group_index: int) -> range:
    start = sum(len(g["params"]) for g in optimizer.param_groups[:group_index])
    return range(start, start + len(optimizer.param_groups[group_index]["params"]))
