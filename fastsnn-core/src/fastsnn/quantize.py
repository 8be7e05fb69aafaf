"""W8ASpike: int8 weights with spike activations, and the int8 KV-cache switch.

:func:`quantize_model` turns a trained model into its deployment form, in place:

- every ``nn.Linear`` becomes an :class:`Int8Linear` and every ``nn.Embedding`` an
  :class:`Int8Embedding` (a tied embedding and head keep sharing one int8 matrix). The weights are
  stored as int8 ``q`` with float32 scales ``s`` (symmetric, no zero point): one scale per output
  channel (``group_size=None``) or per group of ``group_size`` input columns of each output
  channel (``group_size=128``), ``W ≈ q · s`` with ``|q| ≤ 127``. No float copy of a weight is
  kept: a forward pass either multiplies int8 by int8 (:func:`torch._int_mm`, when the input is
  a count-view :class:`~fastsnn.SpikeTensor` whose integer spike counts fit in int8 — the
  "ASpike" half of W8ASpike) or dequantises the weight block by block into a temporary.
- with ``kv_cache="int8"`` every attention layer that supports it keeps its decoding cache in
  int8 (see :data:`KV_CACHE_FORMATS_ATTR`).

The choice is recorded as ``model.quantization`` (a JSON-ready dict), which the model folder and
the ``.snn`` file store; :func:`fastsnn.load` applies it again when it rebuilds the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn.errors import FastSNNError
from fastsnn.spike_tensor import SpikeTensor

#: the weight format :func:`quantize_model` produces
WEIGHT_FORMATS = ("w8",)
#: An attention layer that can keep its decoding cache in int8 declares the class attribute
#: ``kv_cache_formats = ("float", "int8")`` and reads ``self.kv_cache_format`` (``"float"`` unless
#: :func:`quantize_model` set it) in ``init_cache``. Core knows no attention kernel: this is the
#: whole protocol.
KV_CACHE_FORMATS_ATTR = "kv_cache_formats"
KV_CACHE_FORMATS = ("int8",)
#: the largest |q| of a symmetric int8 weight (−128 is never used, so −q is always representable)
QMAX = 127
#: elements of the float temporary one dequantised block of a weight may hold (4 MiB in fp32)
BLOCK_ELEMENTS = 1 << 20


def check_group_size(group_size: int | None) -> None:
    """:raises FastSNNError: ``group_size`` is neither None (per channel) nor a positive integer."""
    if group_size is not None and (isinstance(group_size, bool) or not isinstance(group_size, int) or group_size <= 0):
        raise FastSNNError(
            f"group_size must be a positive integer (e.g. 128) or None for one scale per output channel, "
            f"got {group_size!r}"
        )


def quantize_weight(weight: torch.Tensor, group_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 quantisation of ``weight [out, in]``.

    :returns: ``q`` int8 ``[out, in]`` with ``|q| ≤ 127`` and ``scale`` float32 ``[out, G]``,
        ``G = 1`` (per channel) or ``ceil(in / group_size)``, such that ``weight ≈ q · s`` with
        ``s = max|w| / 127`` over each group (an all-zero group gets ``s = 1``). The error of each
        element is at most ``s / 2``.
    """
    check_group_size(group_size)
    if weight.dim() != 2:
        raise FastSNNError(f"quantize_weight expects a 2-D weight [out, in], got shape {tuple(weight.shape)}")
    w = weight.detach().float()
    out_features, in_features = w.shape
    group = in_features if group_size is None else min(group_size, in_features)
    n_groups = -(-in_features // group)
    padded = F.pad(w, (0, n_groups * group - in_features)).view(out_features, n_groups, group)
    amax = padded.abs().amax(-1)  # (out, G)
    scale = torch.where(amax > 0, amax / QMAX, torch.ones_like(amax))
    q = torch.round(padded / scale.unsqueeze(-1)).clamp_(-QMAX, QMAX).to(torch.int8)
    return q.view(out_features, -1)[:, :in_features].contiguous(), scale.contiguous()


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 quantisation along the last axis (one scale per row, e.g. per token and head
    of a KV cache): ``x [..., D]`` → ``q`` int8 ``[..., D]`` and ``scale`` float32 ``[..., 1]`` with
    ``x ≈ q · scale``, ``|q| ≤ 127``, error at most ``scale / 2`` (an all-zero row gets scale 1)."""
    x = x.detach().float()
    amax = x.abs().amax(-1, keepdim=True)
    scale = torch.where(amax > 0, amax / QMAX, torch.ones_like(amax))
    return torch.round(x / scale).clamp_(-QMAX, QMAX).to(torch.int8), scale


def expand_scale(scale: torch.Tensor, columns: int, group_size: int | None) -> torch.Tensor:
    """Per-group scales ``[..., G]`` → one per column ``[..., columns]``: column ``i`` takes group
    ``i // group_size`` (``group_size=None``: the one scale per row)."""
    group = columns if group_size is None else min(group_size, columns)
    return scale.repeat_interleave(group, dim=-1)[..., :columns]


class Int8Linear(nn.Module):
    """``y = x Wᵀ + b`` computed from an int8 weight: ``W = q · s`` (see :func:`quantize_weight`).

    Buffers: ``qweight`` int8 ``[out, in]``, ``scale`` float32 ``[out, G]``; ``bias`` float
    ``[out]`` or None. Inputs:

    - a tensor ``x [..., in]`` → ``[..., out]`` in ``x``'s dtype: the weight is dequantised
      ``BLOCK_ELEMENTS`` at a time (output rows) into a temporary and multiplied;
    - a count-view :class:`~fastsnn.SpikeTensor` (spike counts ``n [..., in]`` times a per-token
      or scalar scale ``v``): ``y = (n · qᵀ) ⊙ s · v + b`` with the integer product computed by
      ``torch._int_mm`` (int8 × int8 → int32, exact) when the counts fit in int8 and the device has
      it, else as above on ``n · v``;
    - any other SpikeTensor: its dense value.
    """

    #: the FFN hands this layer its neuron's spikes (not their dense value): see PulseFFN
    accepts_spikes = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True, group_size: int | None = None,
                 device: Any = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        check_group_size(group_size)
        self.in_features, self.out_features, self.group_size = in_features, out_features, group_size
        n_groups = 1 if group_size is None else -(-in_features // min(group_size, in_features))
        self.register_buffer("qweight", torch.zeros(out_features, in_features, dtype=torch.int8, device=device))
        self.register_buffer("scale", torch.ones(out_features, n_groups, dtype=torch.float32, device=device))
        self.bias = nn.Parameter(torch.zeros(out_features, device=device, dtype=dtype), requires_grad=False) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear, group_size: int | None = None) -> Int8Linear:
        """Quantise ``linear``'s weight (its bias stays float); nothing of ``linear`` is kept."""
        weight = linear.weight
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, group_size,
                    device=weight.device, dtype=weight.dtype)
        q, scale = quantize_weight(weight, group_size)
        layer.qweight.copy_(q)
        layer.scale.copy_(scale)
        if linear.bias is not None:
            layer.bias.data.copy_(linear.bias.detach())
        return layer

    def dequantize(self, rows: slice = slice(None), dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``q · s`` for output ``rows`` → a new float tensor ``[rows, in]`` (the weight is never kept)."""
        q, scale = self.qweight[rows], self.scale[rows]
        if scale.shape[-1] == 1:
            return q.to(dtype) * scale.to(dtype)
        return q.to(dtype) * expand_scale(scale, self.in_features, self.group_size).to(dtype)

    def forward(self, x: torch.Tensor | SpikeTensor) -> torch.Tensor:
        if isinstance(x, SpikeTensor):
            out = self._forward_counts(x)
            if out is not None:
                return out
            x = x.to_dense()
        if x.shape[-1] != self.in_features:
            raise FastSNNError(f"Int8Linear expects inputs [..., {self.in_features}], got shape {tuple(x.shape)}")
        rows = max(1, BLOCK_ELEMENTS // max(1, self.in_features))
        blocks = [slice(r, r + rows) for r in range(0, self.out_features, rows)]  # the float temporary stays small
        out = torch.cat([self._block(x, block) for block in blocks], dim=-1) if len(blocks) > 1 else \
            self._block(x, slice(None))
        return out + self.bias.to(out.dtype) if self.bias is not None else out

    def _block(self, x: torch.Tensor, rows: slice) -> torch.Tensor:
        """``x Wᵀ`` for output ``rows``: per channel ``(x qᵀ) ⊙ s`` (the scale on the small output,
        not on the weight), per group ``x (q ⊙ s)ᵀ``."""
        if self.scale.shape[-1] == 1:
            return F.linear(x, self.qweight[rows].to(x.dtype)) * self.scale[rows, 0].to(x.dtype)
        return F.linear(x, self.dequantize(rows, x.dtype))

    def _forward_counts(self, x: SpikeTensor) -> torch.Tensor | None:
        """The int8 × int8 path, or None where it does not apply (then the dense path runs)."""
        if x.view != "count" or not hasattr(torch, "_int_mm") or torch.compiler.is_compiling():
            return None  # (the range check below is data-dependent: graphs for export take the dense path)
        counts, token_scale = x.counts, x.scale
        if token_scale.dim() > 0 and token_scale.shape[-1] != 1:
            return None  # no per-token factor to pull out of the sum
        if counts.shape[-1] != self.in_features or counts.numel() == 0:
            return None
        flat = counts.reshape(-1, self.in_features)
        low, high = (float(v) for v in torch.aminmax(flat.detach()))
        if low < -128 or high > 127:
            return None
        if flat.is_cuda and (flat.shape[0] <= 16 or self.in_features % 8 or self.out_features % 8):
            return None  # cuBLAS int8 GEMM shape limits
        n = flat.to(torch.int8)
        qt = self.qweight.t()  # (in, out)
        if self.scale.shape[-1] == 1:
            acc = torch._int_mm(n, qt).float() * self.scale[:, 0]  # (M, out)
        else:
            group = min(self.group_size, self.in_features)
            acc = torch.zeros(n.shape[0], self.out_features, device=n.device)
            for g, start in enumerate(range(0, self.in_features, group)):
                part = torch._int_mm(n[:, start : start + group].contiguous(), qt[start : start + group])
                acc += part.float() * self.scale[:, g]
        dtype = token_scale.dtype if token_scale.dtype.is_floating_point else torch.float32
        out = acc.view(*counts.shape[:-1], self.out_features).to(dtype) * token_scale.to(dtype)
        return out + self.bias.to(dtype) if self.bias is not None else out

    def extra_repr(self) -> str:
        grouping = "per channel" if self.group_size is None else f"group_size={self.group_size}"
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, " \
               f"int8 {grouping}"


class Int8Embedding(nn.Module):
    """A lookup table stored as int8 rows with float32 scales (``table[i] ≈ q[i] · s[i]``).

    ``ids [...]`` (int64) → ``[..., dim]`` in ``dtype``. Built by :func:`quantize_model`; with a
    tied head the two modules hold the very same ``qweight``/``scale`` tensors.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, group_size: int | None = None,
                 device: Any = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        check_group_size(group_size)
        self.num_embeddings, self.embedding_dim, self.group_size, self.dtype = num_embeddings, embedding_dim, group_size, dtype
        n_groups = 1 if group_size is None else -(-embedding_dim // min(group_size, embedding_dim))
        self.register_buffer("qweight", torch.zeros(num_embeddings, embedding_dim, dtype=torch.int8, device=device))
        self.register_buffer("scale", torch.ones(num_embeddings, n_groups, dtype=torch.float32, device=device))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        q, scale = self.qweight[ids], self.scale[ids]  # (..., dim), (..., G)
        if scale.shape[-1] != 1:
            scale = expand_scale(scale, self.embedding_dim, self.group_size)
        return q.to(self.dtype) * scale.to(self.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, int8"


def _named_children_recursive(module: nn.Module, prefix: str = "") -> Iterator[tuple[nn.Module, str, str, nn.Module]]:
    """``(parent, attribute, dotted name, child)`` for every module below ``module``, each position once."""
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        yield module, name, full, child
        yield from _named_children_recursive(child, full + ".")


def quantize_model(model: nn.Module, weights: str | None = "w8", *, group_size: int | None = None,
                   kv_cache: str | None = None) -> dict[str, Any]:
    """Turn ``model`` (in place) into its W8ASpike deployment form; returns ``model.quantization``.

    :param weights: ``"w8"`` — every ``nn.Linear`` → :class:`Int8Linear`, every ``nn.Embedding`` →
        :class:`Int8Embedding`; None leaves the weights as they are.
    :param group_size: None — one scale per output channel; an integer (128 is usual) — one per
        that many input columns of each output channel.
    :param kv_cache: ``"int8"`` — every attention layer that declares ``kv_cache_formats`` with
        ``"int8"`` keeps its decoding cache in int8 (per-token, per-head scales).
    :raises FastSNNError: an unknown weight or cache format, a bad group size, nothing to quantise,
        ``kv_cache="int8"`` for a model without such a layer, or a model quantised already.
    """
    if not isinstance(model, nn.Module):
        raise FastSNNError(f"quantize_model needs a torch.nn.Module, got {type(model).__name__}")
    if weights is not None and weights not in WEIGHT_FORMATS:
        raise FastSNNError(f"unknown weight format {weights!r}; FastSNN quantises weights as: {', '.join(WEIGHT_FORMATS)}")
    if kv_cache is not None and kv_cache not in KV_CACHE_FORMATS:
        raise FastSNNError(f"unknown KV-cache format {kv_cache!r}; available: {', '.join(KV_CACHE_FORMATS)}")
    check_group_size(group_size)
    if weights is None and kv_cache is None:
        raise FastSNNError("quantize_model: nothing to do; pass weights='w8' and/or kv_cache='int8'")
    previous = getattr(model, "quantization", None)
    if previous:
        raise FastSNNError(f"this model is quantised already ({describe(previous)}); quantise the original model")
    record: dict[str, Any] = {"weights": weights, "group_size": group_size if weights else None,
                              "kv_cache": kv_cache, "modules": [], "kv_cache_layers": []}
    if kv_cache is not None:
        layers = [(name, m) for name, m in model.named_modules() if kv_cache in getattr(m, KV_CACHE_FORMATS_ATTR, ())]
        if not layers:
            raise FastSNNError(
                f"kv_cache={kv_cache!r}: no layer of this model can keep an {kv_cache} cache (a layer opts in by "
                f"declaring {KV_CACHE_FORMATS_ATTR}, as the swa attention does); drop kv_cache"
            )
        for name, layer in layers:
            layer.kv_cache_format = kv_cache
            record["kv_cache_layers"].append(name)
    if weights is not None:
        record["modules"] = _quantize_weights(model, group_size)
        if not record["modules"]:
            raise FastSNNError("weights='w8': the model has no nn.Linear or nn.Embedding to quantise")
    model.quantization = record
    return record


def _quantize_weights(model: nn.Module, group_size: int | None) -> list[str]:
    done: dict[int, nn.Module] = {}  # id(original weight) → its int8 module (tied weights share one)
    names = []
    for parent, attr, name, child in list(_named_children_recursive(model)):
        if isinstance(child, (Int8Linear, Int8Embedding)):
            continue
        if isinstance(child, nn.Linear):
            new: nn.Module = Int8Linear.from_linear(child, group_size)
        elif isinstance(child, nn.Embedding) and child.weight.dim() == 2:
            new = Int8Embedding(child.num_embeddings, child.embedding_dim, group_size,
                                device=child.weight.device, dtype=child.weight.dtype)
        else:
            continue
        shared = done.get(id(child.weight))
        if shared is not None:  # tied: hold the very same int8 tensors
            new.qweight, new.scale = shared.qweight, shared.scale
        elif isinstance(new, Int8Embedding):
            q, scale = quantize_weight(child.weight, group_size)
            new.qweight.copy_(q)
            new.scale.copy_(scale)
        done[id(child.weight)] = new
        setattr(parent, attr, new)
        names.append(name)
    return names


def describe(record: dict[str, Any] | None) -> str:
    """``"w8 per channel, int8 KV cache"`` — a quantisation record in words (``"none"`` for None)."""
    if not record:
        return "none"
    parts = []
    if record.get("weights"):
        size = record.get("group_size")
        parts.append(f"{record['weights']} {'per channel' if size is None else f'group {size}'}")
    if record.get("kv_cache"):
        parts.append(f"{record['kv_cache']} KV cache")
    return ", ".join(parts) or "none"


def apply_recorded(model: nn.Module, record: dict[str, Any] | None, source: str = "the model file") -> nn.Module:
    """Re-apply a stored ``quantization`` record to a freshly built float ``model`` (before its
    weights are loaded); returns ``model``.

    :raises FastSNNError: the record is malformed or names formats this FastSNN does not know.
    """
    if not record:
        return model
    if not isinstance(record, dict):
        raise FastSNNError(f"{source}: 'quantization' must be a JSON object, got {type(record).__name__}")
    try:
        quantize_model(model, record.get("weights"), group_size=record.get("group_size"), kv_cache=record.get("kv_cache"))
    except FastSNNError as err:
        raise FastSNNError(f"{source}: its quantisation cannot be applied here: {err}") from None
    return model


__all__ = [
    "BLOCK_ELEMENTS",
    "KV_CACHE_FORMATS",
    "KV_CACHE_FORMATS_ATTR",
    "QMAX",
    "WEIGHT_FORMATS",
    "Int8Embedding",
    "Int8Linear",
    "apply_recorded",
    "describe",
    "expand_scale",
    "quantize_model",
    "quantize_rows",
    "quantize_weight",
]
