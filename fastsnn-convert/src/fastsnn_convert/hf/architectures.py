"""Which Hugging Face architectures FastSNN converts, keyed by ``config.model_type``.

One table: each family's list of transformer blocks (relative to ``model.base_model``) for
W8ASpike, and whether :func:`fastsnn_convert.hf.convert_causal_lm` maps it to a
:class:`fastsnn.SpikingLM`. An architecture outside the table is refused with the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from fastsnn.errors import FastSNNError


@dataclass(frozen=True)
class Architecture:
    """One family: ``blocks`` is the attribute of ``model.base_model`` holding its layers;
    ``causal_lm`` whether it converts to a SpikingLM (a decoder-only LM)."""

    family: str
    blocks: str
    causal_lm: bool


ARCHITECTURES: dict[str, Architecture] = {
    "bert": Architecture("BERT", "encoder.layer", causal_lm=False),
    "roberta": Architecture("BERT", "encoder.layer", causal_lm=False),
    "gpt2": Architecture("GPT-2", "h", causal_lm=True),
    "llama": Architecture("Llama", "layers", causal_lm=True),
    "mistral": Architecture("Llama", "layers", causal_lm=True),
    "qwen2": Architecture("Qwen2", "layers", causal_lm=True),
}


def supported(causal_lm: bool = False) -> list[str]:
    """The ``model_type`` values supported (for a SpikingLM conversion when ``causal_lm``)."""
    return sorted(k for k, a in ARCHITECTURES.items() if a.causal_lm or not causal_lm)


def model_type_of(model: Any) -> str:
    """``model.config.model_type``, or a FastSNNError when ``model`` is not a transformers model."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if not isinstance(model, nn.Module) or not isinstance(model_type, str):
        raise FastSNNError(f"expected a Hugging Face transformers model (a torch module with a config.model_type), "
                           f"got {type(model).__name__}; load one with transformers' from_pretrained")
    return model_type


def architecture_of(model: Any, causal_lm: bool = False) -> Architecture:
    """The table entry of ``model``'s architecture.

    :raises FastSNNError: an architecture not in the table (or not convertible to a SpikingLM when
        ``causal_lm``), listing the supported ones.
    """
    model_type = model_type_of(model)
    arch = ARCHITECTURES.get(model_type)
    if arch is None or (causal_lm and not arch.causal_lm):
        what = "to a FastSNN SpikingLM (decoder-only causal LMs)" if causal_lm else "with W8ASpike"
        raise FastSNNError(
            f"unsupported Hugging Face architecture {model_type!r} ({type(model).__name__}): FastSNN converts "
            f"{what} these model types: {', '.join(supported(causal_lm))}"
        )
    return arch


def blocks_of(model: nn.Module, arch: Architecture) -> nn.Module:
    """The module list of transformer blocks of ``model`` (``model.base_model.<arch.blocks>``)."""
    module: Any = getattr(model, "base_model", model)
    for part in arch.blocks.split("."):
        module = getattr(module, part, None)
        if module is None:
            raise FastSNNError(f"{type(model).__name__}: no {arch.blocks} under its base model, where "
                               f"{arch.family} models keep their blocks; is this a standard transformers model?")
    return module
