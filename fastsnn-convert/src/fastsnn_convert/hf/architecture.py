"""A Hugging Face causal LM (Llama/Mistral/Qwen2 family, GPT-2) → a FastSNN hybrid spiking :class:`~fastsnn.SpikingLM`.

SpikingBrain's conversion ("SpikingBrain Technical Report", BIClab 2025, §3): the embedding,
the attention projections and the FFN of a trained Transformer are kept; the softmax layers
become linear attention or sliding-window attention per a layout (``"hybrid_alt"``: alternating,
as SpikingBrain-7B), some may keep softmax, and the FFN's hidden state goes through the
adaptive-threshold spiking neuron. The result is a FastSNN model (save it with
``save_pretrained``; continue training with :class:`fastsnn.train.Trainer`).

Llama / Mistral / Qwen2 (FastSNN name ← Hugging Face name, layer ``i``)::

    embed.weight                 ← model.embed_tokens.weight
    blocks.i.attn_norm.weight    ← model.layers.i.input_layernorm.weight          (rmsnorm, eps kept)
    blocks.i.attn.{q,k}_proj.*   ← model.layers.i.self_attn.{q,k}_proj.*  rows re-ordered per head (RoPE)
    blocks.i.attn.{v,o}_proj.*   ← model.layers.i.self_attn.{v,o}_proj.*  (biases: Qwen2 q/k/v, Llama attention_bias)
    blocks.i.ffn_norm.weight     ← model.layers.i.post_attention_layernorm.weight
    blocks.i.ffn.{gate,up,down}  ← model.layers.i.mlp.{gate,up,down}_proj          (swiglu)
    norm.weight                  ← model.norm.weight
    head.weight                  ← lm_head.weight                                  (unless tied)

RoPE: Hugging Face rotates channel ``j`` with ``j + D/2`` of each head (rotate-half); FastSNN
rotates adjacent pairs ``(2j, 2j+1)`` (:mod:`fastsnn_attention.rope`) at the same frequencies, so
the rows of the q and k projections are permuted per head (``2j ← j``, ``2j+1 ← j + D/2``); the
scores ``q·k`` are unchanged. Mistral's sliding window makes its kept layers ``swa``.

GPT-2 (``Conv1D`` weights are ``[in, out]``: transposed)::

    embed.weight, pos_embed.weight      ← transformer.wte, transformer.wpe   (position_embedding="learned")
    blocks.i.attn_norm / ffn_norm       ← transformer.h.i.ln_1 / ln_2        (layernorm with bias)
    blocks.i.attn.{q,k,v}_proj          ← transformer.h.i.attn.c_attn, split in three (rope off)
    blocks.i.attn.o_proj                ← transformer.h.i.attn.c_proj
    blocks.i.ffn.up / down              ← transformer.h.i.mlp.c_fc / c_proj  (pulse, gelu_tanh, biases)
    norm                                ← transformer.ln_f                   (head tied to wte)

With softmax kept on every layer and the FFN not spiking (``layout="softmax", spiking=False``)
the converted model reproduces the original's logits (tested for each family). Linear attention
has no positions of its own (with GPT-2 the learned table still feeds every layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import ValidationError
from torch import nn

from fastsnn.config.model import ModelConfig
from fastsnn.errors import FastSNNError, format_validation_error
from fastsnn.kind_table import DEFAULT_NEURON
from fastsnn.model.lm import SpikingLM
from fastsnn.plugins import get_registry
from fastsnn_convert.hf.architectures import architecture_of

#: attention params a kernel may lack: positions it does not use (linear attention has no RoPE)
POSITION_PARAMS = ("rope_base", "rope")
#: GPT-2 ``activation_function`` → the pulse FFN's activation
GPT2_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu",
                    "silu": "silu"}


@dataclass
class HFConversionReport:
    """What :func:`convert_causal_lm` did: the source (class and ``model_type``), one kernel name
    per layer, the number of tensors copied, whether the FFN spikes, and notes on what changed."""

    source: str
    layers: list[str]
    tensors: int
    spiking: bool
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.source} → SpikingLM: layers {', '.join(self.layers)}; {self.tensors} tensors copied; "
                 f"FFN {'spiking' if self.spiking else 'not spiking'}"]
        return "\n".join(lines + [f"- {n}" for n in self.notes])


def _refuse(model: nn.Module, what: str) -> FastSNNError:
    return FastSNNError(f"cannot convert {type(model).__name__} ({model.config.model_type}) to a SpikingLM: {what}")


def _rope_theta(model: nn.Module) -> float:
    config = model.config
    params = getattr(config, "rope_parameters", None) or {}
    scaling = getattr(config, "rope_scaling", None) or {}
    rope_type = params.get("rope_type", scaling.get("rope_type", scaling.get("type", "default")))
    if rope_type not in (None, "default"):
        raise _refuse(model, f"its RoPE uses scaling {rope_type!r}; FastSNN's rotary embedding is the plain "
                             "(default) kind")
    theta = params.get("rope_theta", getattr(config, "rope_theta", None))
    return 10000.0 if theta is None else float(theta)


def _llama_facts(model: nn.Module, spiking: bool) -> dict[str, Any]:
    """What a Llama/Mistral/Qwen2 config becomes in FastSNN, or a precise refusal."""
    c = model.config
    d, heads = c.hidden_size, c.num_attention_heads
    if d % heads or getattr(c, "head_dim", None) not in (None, d // heads):
        raise _refuse(model, f"head_dim={c.head_dim} but hidden_size/num_attention_heads = {d}/{heads}; FastSNN "
                             "attention uses head_dim = d_model / n_heads")
    act = getattr(c, "hidden_act", "silu")
    if act != "silu":
        raise _refuse(model, f"hidden_act={act!r}; FastSNN's SwiGLU FFN uses silu")
    if c.model_type == "qwen2" and getattr(c, "use_sliding_window", False):
        raise _refuse(model, "use_sliding_window=True (a window on some layers only); convert a model with full "
                             "attention")
    attention_bias = bool(getattr(c, "attention_bias", False))
    mlp_bias = bool(getattr(c, "mlp_bias", False))
    return {
        "config": {"vocab_size": c.vocab_size, "d_model": d, "n_layers": c.num_hidden_layers, "n_heads": heads,
                   "d_ff": c.intermediate_size, "norm": {"name": "rmsnorm", "eps": float(c.rms_norm_eps)},
                   "ffn": {"name": "swiglu", "spiking": spiking, "bias": mlp_bias},
                   "tie_embeddings": bool(getattr(c, "tie_word_embeddings", False))},
        "attention": {"n_kv_heads": getattr(c, "num_key_value_heads", None) or heads,
                      "qkv_bias": attention_bias or c.model_type == "qwen2", "out_bias": attention_bias,
                      "rope_base": _rope_theta(model)},
        "max_positions": getattr(c, "max_position_embeddings", None), "fixed_max_seq_len": None,
        "sliding_window": getattr(c, "sliding_window", None) if c.model_type == "mistral" else None,
        "copy": _copy_llama_weights, "mlp_bias": mlp_bias,
    }


def _gpt2_facts(model: nn.Module, spiking: bool) -> dict[str, Any]:
    """What a GPT-2 config becomes in FastSNN, or a precise refusal."""
    c = model.config
    act = GPT2_ACTIVATIONS.get(c.activation_function)
    if act is None:
        raise _refuse(model, f"activation_function={c.activation_function!r}; FastSNN's pulse FFN has "
                             f"{', '.join(sorted(GPT2_ACTIVATIONS))}")
    if getattr(c, "scale_attn_by_inverse_layer_idx", False) or not getattr(c, "scale_attn_weights", True):
        raise _refuse(model, "its attention scores are not scaled by 1/sqrt(head_dim) alone "
                             "(scale_attn_by_inverse_layer_idx or scale_attn_weights=False)")
    if getattr(c, "add_cross_attention", False):
        raise _refuse(model, "it has cross-attention (an encoder-decoder GPT-2); only decoder-only models convert")
    return {
        "config": {"vocab_size": c.vocab_size, "d_model": c.n_embd, "n_layers": c.n_layer, "n_heads": c.n_head,
                   "d_ff": c.n_inner or 4 * c.n_embd, "norm": {"name": "layernorm", "eps": float(c.layer_norm_epsilon)},
                   "ffn": {"name": "pulse", "activation": act, "bias": True, "spiking": spiking},
                   "tie_embeddings": bool(getattr(c, "tie_word_embeddings", True)),
                   "position_embedding": "learned"},
        "attention": {"n_kv_heads": c.n_head, "qkv_bias": True, "out_bias": True, "rope": False},
        "max_positions": c.n_positions, "fixed_max_seq_len": c.n_positions, "sliding_window": None,
        "copy": _copy_gpt2_weights,
    }


def _layer_refs(facts: dict[str, Any], layout: Any, softmax_layers: list[int],
                window: int | None) -> tuple[list[dict[str, Any]], bool]:
    """One attention table per layer (the layout's kernel with the weights' structural params), and
    whether a layer became ``swa`` because of the source's own sliding window."""
    n_heads, n_layers = facts["config"]["n_heads"], facts["config"]["n_layers"]
    try:  # the layout expanded by ModelConfig itself (layouts are registry components)
        probe = ModelConfig(vocab_size=1, d_model=n_heads, n_heads=n_heads, n_layers=n_layers, attention=layout,
                            softmax_layers=softmax_layers, max_seq_len=1)
    except ValidationError as err:
        raise FastSNNError("convert_causal_lm: bad layout or softmax_layers:\n"
                           + format_validation_error(err, "layout")) from None
    registry = get_registry()
    refs, source_window = [], False
    for i, ref in enumerate(probe.layer_attention()):
        name, params, from_source = ref.name, dict(ref.params), False
        if name == "softmax" and facts["sliding_window"]:  # Mistral: its "full" attention is a window
            name, params, from_source = "swa", {"window": facts["sliding_window"]}, True
            source_window = True
        fields = registry.get("attention", name).params.model_fields
        for key, value in facts["attention"].items():
            if key in fields:
                params[key] = value
            elif key not in POSITION_PARAMS and value not in (False, n_heads):
                raise FastSNNError(f"layer {i}: attention kernel {name!r} cannot hold these weights: it has no "
                                   f"{key!r} parameter and the model needs {key}={value}; pick a kernel that has "
                                   "it (softmax, swa, linear, gla)")
        if name == "swa" and window is not None and "window" not in ref.params and not from_source:
            params["window"] = window
        refs.append({"name": name, **params})
    return refs, source_window


def _permute_rope_rows(weight: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Rows of a q/k projection ``[H·D, ...]`` (or its bias ``[H·D]``) from rotate-half order to
    adjacent pairs: within each head, new row ``2j`` is old row ``j``, ``2j+1`` is ``j + D/2``."""
    half = head_dim // 2
    order = torch.stack([torch.arange(half), torch.arange(half) + half], dim=-1).flatten()  # (D,)
    heads = weight.shape[0] // head_dim
    return weight.reshape(heads, head_dim, *weight.shape[1:])[:, order].reshape(weight.shape)


def convert_causal_lm(model: nn.Module, layout: Any = "hybrid_alt", *, softmax_layers: list[int] | None = None,
                      window: int | None = None, spiking: bool = True, neuron: Any = DEFAULT_NEURON,
                      max_seq_len: int | None = None) -> tuple[SpikingLM, HFConversionReport]:
    """Build a FastSNN :class:`SpikingLM` from a Hugging Face causal LM, reusing its weights.

    :param model: a ``transformers`` ``LlamaForCausalLM``, ``MistralForCausalLM``,
        ``Qwen2ForCausalLM`` or ``GPT2LMHeadModel`` (any size; load it with ``from_pretrained``).
        Not changed.
    :param layout: the attention layout (what ``ModelConfig.attention`` takes): ``"hybrid_alt"``
        (linear and SWA alternating), ``"softmax"`` (every layer kept), a kernel name for all
        layers, a layout table, or one entry per layer.
    :param softmax_layers: layers that keep softmax attention whatever the layout says.
    :param window: the window of every SWA layer whose reference does not set one.
    :param spiking: pass the FFN's hidden state through ``neuron`` (False: a plain FFN).
    :param neuron: a registered neuron, by name or table (SpikingBrain's ``adaptive_threshold`` by
        default; signed, as the SwiGLU hidden state is).
    :param max_seq_len: the model's sequence limit (needed by softmax layers; default the source's
        ``max_position_embeddings`` when a layer keeps softmax, else none). GPT-2's is its
        ``n_positions`` (the position table's size) and cannot be changed.
    :returns: ``(SpikingLM in train mode, report)``.
    :raises FastSNNError: an unsupported architecture (listing the supported ones), a config FastSNN
        cannot reproduce (head_dim ≠ d_model/n_heads, another activation, scaled RoPE, …), or a
        layout kernel that cannot hold the weights — each naming what and why.
    """
    arch = architecture_of(model, causal_lm=True)
    facts = (_gpt2_facts if arch.family == "GPT-2" else _llama_facts)(model, spiking)
    refs, source_window = _layer_refs(facts, layout, list(softmax_layers or []), window)
    fixed = facts["fixed_max_seq_len"]
    if fixed is not None:
        if max_seq_len not in (None, fixed):
            raise _refuse(model, f"max_seq_len={max_seq_len}, but its learned position table has {fixed} rows; "
                                 "leave max_seq_len unset")
        max_seq_len = fixed
    elif any(r["name"] == "softmax" for r in refs):
        max_seq_len = max_seq_len or facts["max_positions"]
    data = {**facts["config"], "max_seq_len": max_seq_len, "attention": refs, "neuron": neuron}
    try:
        config = ModelConfig.model_validate(data)
    except ValidationError as err:
        raise FastSNNError("the converted model's config is invalid:\n" + format_validation_error(err, "model")) from None
    target = SpikingLM(config)
    pairs = facts["copy"](model, target, facts)
    with torch.no_grad():
        for name, mine, theirs in pairs:
            if mine.shape != theirs.shape:
                raise FastSNNError(f"{name}: FastSNN shape {tuple(mine.shape)} vs Hugging Face {tuple(theirs.shape)}; "
                                   "the converter does not know this variant")
            mine.copy_(theirs.detach().to(mine.dtype))
    names = [r["name"] for r in refs]
    report = HFConversionReport(f"{type(model).__name__} ({model.config.model_type})", names, len(pairs), spiking)
    if arch.family != "GPT-2":
        report.notes.append("q/k projection rows re-ordered per head (rotate-half RoPE → adjacent pairs)")
    if "linear" in names or "gla" in names:
        report.notes.append("linear attention mixes tokens differently from softmax: continue training to recover "
                            "(SpikingBrain's recipe)")
    if source_window:
        report.notes.append(f"layers kept as softmax became swa with the source's sliding window "
                            f"({facts['sliding_window']} tokens)")
    return target.train(), report


Pairs = list[tuple[str, torch.Tensor, torch.Tensor]]


def _copy_llama_weights(source: nn.Module, target: SpikingLM, facts: dict[str, Any]) -> Pairs:
    base = source.base_model
    head_dim = facts["config"]["d_model"] // facts["config"]["n_heads"]
    pairs: Pairs = [("embed.weight", target.embed.weight, base.embed_tokens.weight),
                    ("norm.weight", target.norm.weight, base.norm.weight)]
    if not facts["config"]["tie_embeddings"]:
        pairs.append(("head.weight", target.head.weight, source.get_output_embeddings().weight))
    for i, (block, layer) in enumerate(zip(target.blocks, base.layers)):
        attn, mlp = layer.self_attn, layer.mlp
        pairs += [(f"blocks.{i}.attn_norm", block.attn_norm.weight, layer.input_layernorm.weight),
                  (f"blocks.{i}.ffn_norm", block.ffn_norm.weight, layer.post_attention_layernorm.weight)]
        for mine, theirs in (("gate", "gate_proj"), ("up", "up_proj"), ("down", "down_proj")):
            for attr in ("weight", "bias") if facts["mlp_bias"] else ("weight",):
                pairs.append((f"blocks.{i}.ffn.{mine}.{attr}", getattr(getattr(block.ffn, mine), attr),
                              getattr(getattr(mlp, theirs), attr)))
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            mine, theirs = getattr(block.attn, proj), getattr(attn, proj)
            for attr in ("weight", "bias"):
                t, s = getattr(mine, attr, None), getattr(theirs, attr, None)
                if (t is None) != (s is None):
                    raise FastSNNError(f"blocks.{i}.attn.{proj}.{attr}: present in only one of the two models; "
                                       "the converter's bias settings do not match this model")
                if t is not None:
                    rotated = _permute_rope_rows(s.detach(), head_dim) if proj in ("q_proj", "k_proj") else s
                    pairs.append((f"blocks.{i}.attn.{proj}.{attr}", t, rotated))
    return pairs


def _copy_gpt2_weights(source: nn.Module, target: SpikingLM, facts: dict[str, Any]) -> Pairs:
    base = source.base_model
    d = facts["config"]["d_model"]
    pairs: Pairs = [("embed.weight", target.embed.weight, base.wte.weight),
                    ("pos_embed.weight", target.pos_embed.weight, base.wpe.weight),
                    ("norm.weight", target.norm.weight, base.ln_f.weight), ("norm.bias", target.norm.bias, base.ln_f.bias)]
    if not facts["config"]["tie_embeddings"]:
        pairs.append(("head.weight", target.head.weight, source.get_output_embeddings().weight))
    for i, (block, layer) in enumerate(zip(target.blocks, base.h)):
        prefix = f"blocks.{i}"
        for mine, theirs in ((block.attn_norm, layer.ln_1), (block.ffn_norm, layer.ln_2)):
            pairs += [(f"{prefix} norm weight", mine.weight, theirs.weight), (f"{prefix} norm bias", mine.bias, theirs.bias)]
        qkv_w, qkv_b = layer.attn.c_attn.weight.t(), layer.attn.c_attn.bias  # Conv1D [in, 3d] → [3d, in]
        for j, proj in enumerate(("q_proj", "k_proj", "v_proj")):
            linear = getattr(block.attn, proj)
            pairs += [(f"{prefix}.attn.{proj}.weight", linear.weight, qkv_w[j * d : (j + 1) * d]),
                      (f"{prefix}.attn.{proj}.bias", linear.bias, qkv_b[j * d : (j + 1) * d])]
        for name, linear, conv in (("attn.o_proj", block.attn.o_proj, layer.attn.c_proj),
                                   ("ffn.up", block.ffn.up, layer.mlp.c_fc), ("ffn.down", block.ffn.down, layer.mlp.c_proj)):
            pairs += [(f"{prefix}.{name}.weight", linear.weight, conv.weight.t()),
                      (f"{prefix}.{name}.bias", linear.bias, conv.bias)]
    return pairs


__all__ = ["GPT2_ACTIVATIONS", "HFConversionReport", "convert_causal_lm"]
