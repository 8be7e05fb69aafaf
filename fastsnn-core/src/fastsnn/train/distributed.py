"""Scale-out with ``torch.distributed``: DDP and FSDP (``fully_shard``) under ``torchrun``.

``torchrun --nproc_per_node=N -m fastsnn train ...`` (and multi-node ``torchrun --nnodes ...
--rdzv-endpoint ...``) starts N copies of the same command; each finds its rank in the
environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``).
:func:`setup` joins the process group — ``nccl`` on CUDA, ``gloo`` on CPU — and
:func:`wrap_model` wraps the model:

- ``ddp``: :class:`torch.nn.parallel.DistributedDataParallel`; each process holds the whole
  model and gradients are averaged;
- ``fsdp``: torch's ``fully_shard`` (FSDP2) on each block and on the model, so parameters,
  gradients and optimizer state are split between the processes (a model that outgrows one).

Only rank 0 logs and writes checkpoints; every process reads its own shard of each global batch
(:class:`fastsnn.data.RandomWindows` with ``rank``/``world_size``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import nn

from fastsnn.errors import FastSNNError

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``mode`` is ``"none"`` for a single process."""

    mode: str = "none"
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    started_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.mode != "none"


SINGLE = DistContext()


def launched_by_torchrun(env: dict[str, str] | None = None) -> bool:
    """Whether this process was started by ``torchrun`` (or set up the same way)."""
    env = os.environ if env is None else env
    return all(var in env for var in TORCHRUN_VARS)


def setup(mode: str, device: str, timeout_s: float = 600.0) -> DistContext:
    """Join the process group for ``mode`` (``auto``/``ddp``/``fsdp``/``none``).

    ``auto`` means DDP when launched by torchrun with more than one process, else a single
    process. A process group the caller already made is used as it is.

    :raises FastSNNError: ``ddp``/``fsdp`` asked for without torchrun, or a CUDA device that this
        process's ``LOCAL_RANK`` does not have.
    """
    import torch.distributed as dist

    if mode == "none":
        return SINGLE
    initialized = dist.is_available() and dist.is_initialized()
    if not initialized and not launched_by_torchrun():
        if mode == "auto":
            return SINGLE
        raise FastSNNError(
            f"train.distributed = {mode!r} needs several processes: launch with "
            "torchrun --nproc_per_node=N -m fastsnn train ... (or set distributed = 'auto')"
        )
    world = dist.get_world_size() if initialized else int(os.environ["WORLD_SIZE"])
    if world == 1 and mode == "auto":
        return SINGLE
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.startswith("cuda"):
        if local_rank >= torch.cuda.device_count():
            raise FastSNNError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s) here; "
                               "start at most that many processes per node")
        torch.cuda.set_device(local_rank)
    started = False
    if not initialized:
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        started = True
    return DistContext(mode="fsdp" if mode == "fsdp" else "ddp", rank=dist.get_rank(), world_size=dist.get_world_size(),
                       local_rank=local_rank, started_here=started)


def teardown(ctx: DistContext) -> None:
    """Leave the process group if :func:`setup` joined it."""
    import torch.distributed as dist

    if ctx.started_here and dist.is_initialized():
        dist.destroy_process_group()


def device_for(ctx: DistContext, device: str) -> str:
    """``cuda`` → ``cuda:<LOCAL_RANK>`` in a distributed run; anything else unchanged."""
    if ctx.active and device == "cuda":
        return f"cuda:{ctx.local_rank}"
    return device


def wrap_model(model: nn.Module, ctx: DistContext) -> nn.Module:
    """The module to call in training: ``model`` itself, its DDP wrapper, or ``model`` sharded in place.

    FSDP shards each element of ``model.blocks`` (if any) and then the model.
    """
    if ctx.mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if ctx.mode == "fsdp":
        try:
            from torch.distributed.fsdp import fully_shard
        except ImportError:  # pragma: no cover - torch < 2.6
            raise FastSNNError(f"train.distributed = 'fsdp' needs torch >= 2.6 (fully_shard); this is {torch.__version__}") from None
        for block in getattr(model, "blocks", []):
            fully_shard(block)
        fully_shard(model)
        return model
    return model


def all_reduce_sum(values: list[float], ctx: DistContext, device: torch.device) -> list[float]:
    """Element-wise sums over the processes (the values themselves in a single process)."""
    if not ctx.active:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        import torch.distributed as dist

        dist.barrier()


# -- FSDP checkpoints: gathered to whole tensors, in the same files as a single process writes -------------
OPTIMIZER_PREFIX = "optimizer."


def full_state(model: nn.Module, optimizer: torch.optim.Optimizer, weight_names: list[str]
               ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict]:
    """``(weights, optimizer tensors, optimizer JSON)`` of a sharded model, whole, on the CPU.

    Collective: every process calls it; rank 0 receives the tensors (the others get empty
    dicts). The layout is :func:`fastsnn.train.state.optimizer_state`'s (keyed by parameter name),
    so a checkpoint written by FSDP resumes in a single process and the other way round.
    """
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    weights = get_model_state_dict(model, options=options)
    optim = get_optimizer_state_dict(model, optimizer, options=options)
    weights = {name: weights[name] for name in weight_names if name in weights}  # tied weights once
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for name, slots in (optim.get("state") or {}).items():
        for key, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{OPTIMIZER_PREFIX}{name}.{key}"] = value
            else:
                scalars.setdefault(name, {})[key] = value
    groups = [dict(group) for group in optim.get("param_groups", [])]
    return weights, tensors, {"param_groups": groups, "scalars": scalars}


def load_full_state(model: nn.Module, optimizer: torch.optim.Optimizer, weights: dict[str, torch.Tensor],
                    state: dict[str, torch.Tensor], optimizer_meta: dict, weights_source: str, state_source: object,
                    weight_names: list[str]) -> None:
    """Load whole tensors (as :func:`full_state` gives them) into a sharded model and its optimizer.

    Every process holds the whole checkpoint and keeps its own shard of each tensor (no
    communication): parameters and the optimizer's per-parameter tensors take the placement of
    the parameter they belong to.

    :raises FastSNNError: names or shapes that do not match this model.
    """
    missing, extra = sorted(set(weight_names) - set(weights)), sorted(set(weights) - set(weight_names))
    if missing or extra:
        raise FastSNNError(f"{weights_source} does not match the model (missing: {', '.join(missing[:8]) or 'none'}; "
                           f"unexpected: {', '.join(extra[:8]) or 'none'})")
    params = dict(model.named_parameters())
    tensors = {**params, **dict(model.named_buffers())}
    for name, full in weights.items():
        target = tensors.get(name)
        if target is None or tuple(target.shape) != tuple(full.shape):
            raise FastSNNError(f"{weights_source}: {name} has shape {tuple(full.shape)}, the model "
                               f"{'has no such tensor' if target is None else f'expects {tuple(target.shape)}'}")
    slots: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        if key.startswith(OPTIMIZER_PREFIX):
            name, _, slot = key[len(OPTIMIZER_PREFIX):].rpartition(".")
            if name not in params:
                raise FastSNNError(f"{state_source}: tensor {key!r} belongs to parameter {name!r}, which the model "
                                   "does not have")
            slots.setdefault(name, {})[slot] = tensor
    with torch.no_grad():
        for name, full in weights.items():
            _copy_into(tensors[name], full)
        by_param = {id(p): n for n, p in params.items()}
        for group, saved in zip(optimizer.param_groups, optimizer_meta.get("param_groups") or []):
            group.update({k: tuple(v) if k == "betas" else v for k, v in saved.items() if k != "params"})
            for p in group["params"]:
                name = by_param[id(p)]
                if name in slots:
                    optimizer.state[p] = {slot: (_shard_like(p, t) if t.dim() else t.clone())
                                          for slot, t in slots[name].items()}
                    optimizer.state[p].update((optimizer_meta.get("scalars") or {}).get(name, {}))


def _shard_like(param: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """``full`` laid out as ``param`` (this process's shard of a DTensor; else a copy on its device)."""
    if hasattr(param, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(full.to(param.dtype).to(param.device), param.device_mesh, param.placements,
                                 src_data_rank=None)  # every process slices its own part: no communication
    return full.to(device=param.device, dtype=param.dtype).clone()


def _copy_into(target: torch.Tensor, full: torch.Tensor) -> None:
    shard = _shard_like(target, full)
    if hasattr(target, "to_local"):
        target.to_local().copy_(shard.to_local())
    else:
        target.copy_(shard)
