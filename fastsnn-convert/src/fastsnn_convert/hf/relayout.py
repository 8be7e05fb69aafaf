"""Change a FastSNN language model's attention layout and spiking, keeping its trained weights.

SpikingBrain's conversion step ("SpikingBrain Technical Report", BIClab 2025, §3): a trained
softmax Transformer becomes a hybrid one — its layers' query/key/value/output projections are
reused by linear and sliding-window attention, its FFN weights by a spiking FFN — and a short
continued training recovers the quality. :func:`relayout` does that for a :class:`fastsnn.SpikingLM`
(e.g. a non-spiking softmax teacher → ``hybrid_alt`` with a spiking SwiGLU); the Hugging Face
converter (:mod:`fastsnn_convert.hf.architecture`) builds a softmax SpikingLM first and may call it
too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import ValidationError

from fastsnn.config.model import ModelConfig
from fastsnn.errors import FastSNNError, format_validation_error
from fastsnn.model.lm import SpikingLM
from fastsnn.plugins import get_registry

#: attention params that follow the weights (head layout, biases, positions): a new kernel that
#: declares one and does not set it takes the source layer's value
STRUCTURAL_PARAMS = ("n_kv_heads", "qkv_bias", "out_bias", "rope_base", "rope")


@dataclass
class RelayoutReport:
    """What :func:`relayout` did with each tensor of the source model.

    - ``reused`` — names copied into the new model (same name and shape);
    - ``new`` — names of the new model with no source tensor (freshly initialised, e.g. a
      per-head output norm of linear attention): continued training must learn them;
    - ``dropped`` — source tensors the new model has no place for;
    - ``layers`` — one ``(source kernel, new kernel)`` per layer, e.g. ``("softmax", "linear")``.
    """

    reused: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    layers: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line per fact, for printing."""
        kernels = ", ".join(f"{i}: {a}→{b}" if a != b else f"{i}: {a}" for i, (a, b) in enumerate(self.layers))
        lines = [f"layers: {kernels}", f"reused {len(self.reused)} tensors"]
        if self.new:
            lines.append(f"new (initialised, to be trained): {', '.join(self.new)}")
        if self.dropped:
            lines.append(f"dropped (no place in the new model): {', '.join(self.dropped)}")
        return "\n".join(lines)


def relayout(model: SpikingLM, *, seed: int | None = 0, **config_changes: Any) -> tuple[SpikingLM, RelayoutReport]:
    """A new :class:`SpikingLM` whose config is ``model.config`` with ``config_changes`` applied,
    holding every tensor of ``model`` that keeps its name and shape.

    Typical changes (any :class:`~fastsnn.config.model.ModelConfig` field may be given):
    ``attention="hybrid_alt"`` (or ``{"name": "hybrid_alt", "swa": {"name": "swa", "window": 64}}``,
    or one reference per layer), ``softmax_layers=[]``, ``ffn={"name": "swiglu", "spiking": True}``,
    ``neuron={"name": "adaptive_threshold", "k": 3, "signed": True}``. The attention kernels
    of fastsnn-attention share the projection names (``q_proj``, ``k_proj``, ``v_proj``,
    ``o_proj``), so a softmax layer's projections carry over to linear, GLA or SWA; a kernel's
    own extra tensors (e.g. a gate) start freshly initialised and are listed in the report. The
    weights' structure follows them: a new kernel that declares one of :data:`STRUCTURAL_PARAMS`
    (``n_kv_heads``, biases, RoPE) without being given it takes the source layer's value (the
    layers are then written out as an explicit list).

    :param model: the source model (left unchanged).
    :param seed: seeds the initialisation of tensors that have no source (``None``: the global RNG).
    :returns: ``(new model in train mode, report)``.
    :raises FastSNNError: ``model`` is not a SpikingLM or is quantised; the changed config is
        invalid (with the field's path); a tensor changes shape (e.g. ``d_model`` or ``n_kv_heads``
        changed), naming it.
    """
    if not isinstance(model, SpikingLM):
        raise FastSNNError(f"relayout needs a fastsnn SpikingLM, got {type(model).__name__}; for a Hugging Face "
                           "model use fastsnn_convert.hf.convert_causal_lm")
    if getattr(model, "quantization", None):
        raise FastSNNError("relayout needs a float model; this one is quantised (relayout before quantize_model)")
    data = model.config.model_dump()
    data.update(config_changes)
    try:
        config = ModelConfig.model_validate(data)
        inherited = _inherit_structure(model, config)
        if inherited is not None:
            config = ModelConfig.model_validate({**data, "attention": inherited, "softmax_layers": []})
    except ValidationError as err:
        raise FastSNNError("relayout: the changed model config is invalid:\n" + format_validation_error(err, "model")) from None
    if seed is None:
        target = SpikingLM(config)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            target = SpikingLM(config)
    source_state, target_state = model.state_dict(), target.state_dict()
    report = RelayoutReport(layers=[(a.name, b.name) for a, b in zip(model.layer_attention, target.layer_attention)])
    for name, tensor in target_state.items():
        if name not in source_state:
            report.new.append(name)
            continue
        if source_state[name].shape != tensor.shape:
            raise FastSNNError(
                f"relayout: {name} has shape {tuple(source_state[name].shape)} in the source model but "
                f"{tuple(tensor.shape)} in the new one; keep d_model, n_heads, n_kv_heads, d_ff and vocab_size "
                "as they are (only the kernels, layout, FFN kind and neuron may change)"
            )
        report.reused.append(name)
    report.dropped = [name for name in source_state if name not in target_state]
    with torch.no_grad():
        for name in report.reused:
            target_state[name].copy_(source_state[name])
    return target.train(), report


def _inherit_structure(model: SpikingLM, config: ModelConfig) -> list[dict[str, Any]] | None:
    """The new layers as an explicit list in which each kernel takes the source layer's
    :data:`STRUCTURAL_PARAMS` it declares but was not given (a converted Qwen2's ``n_kv_heads`` and
    ``qkv_bias`` follow it into ``linear``); None when nothing needs inheriting."""
    registry = get_registry()
    layers, changed = [], False
    for old, new in zip(model.layer_attention, config.layer_attention()):
        params = dict(new.params)
        fields = registry.get("attention", new.name).params.model_fields
        for key in STRUCTURAL_PARAMS:
            if key in old.params and key in fields and key not in params:
                params[key] = old.params[key]
                changed = True
        layers.append({"name": new.name, **params})
    return layers if changed else None


__all__ = ["STRUCTURAL_PARAMS", "RelayoutReport", "relayout"]
