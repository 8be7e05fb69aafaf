"""How close a spiking (or quantised) Hugging Face model stays to its float original.

:func:`measure_fidelity` runs both models on the same tokens and reports, per token (padding
left out): the cosine similarity of every layer's hidden state (``hidden_states[0]`` are the
embeddings), the cosine of the mean-pooled sentence embedding (what sentence-transformers models
such as MiniLM return), and for language models the top-1 agreement of the next-token logits
and ``KL(p_float ‖ p_spiking)`` in nats; plus the sparsity of every spiking layer's input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn.errors import FastSNNError
from fastsnn_convert.hf.w8aspike import spike_input_layers


@dataclass
class FidelityReport:
    """Per-token means over the non-padding tokens of the batch.

    - ``hidden_cosine`` — one cosine per hidden state (embeddings first, then each block's output);
    - ``embedding_cosine`` — cosine of the mean-pooled last hidden state (one vector per sequence);
    - ``top1_agreement`` / ``kl`` — for models with LM logits: the fraction of tokens whose argmax
      agrees, and the mean ``KL(p_float ‖ p_spiking)`` (nats); None otherwise;
    - ``sparsity`` / ``spikes_per_value`` — over all spiking inputs: the fraction of zero counts
      and the mean |count|; ``layers`` the same per layer with the largest |count|
      (``{name: {"sparsity", "spikes_per_value", "max_count"}}``; counts within ±127 take the int8
      × int8 product when the weights are int8).
    """

    hidden_cosine: list[float]
    embedding_cosine: float
    top1_agreement: float | None = None
    kl: float | None = None
    sparsity: float | None = None
    spikes_per_value: float | None = None
    tokens: int = 0
    layers: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}

    def summary(self) -> str:
        parts = [f"hidden-state cosine {min(self.hidden_cosine):.4f} (worst layer) … {self.hidden_cosine[-1]:.4f} (last)",
                 f"embedding cosine {self.embedding_cosine:.4f}"]
        if self.top1_agreement is not None:
            parts.append(f"top-1 agreement {100 * self.top1_agreement:.1f}%, KL {self.kl:.4f} nats/token")
        if self.sparsity is not None:
            parts.append(f"input sparsity {100 * self.sparsity:.1f}%, {self.spikes_per_value:.2f} spikes/value")
        return f"{self.tokens} tokens: " + "; ".join(parts)


def _cosine(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over the ``mask``ed rows of the cosine of ``a``, ``b`` ``[..., d]``."""
    cos = F.cosine_similarity(a.double(), b.double(), dim=-1)
    return float(cos[mask].mean())


def logit_agreement(reference: torch.Tensor, logits: torch.Tensor,
                    mask: torch.Tensor | None = None) -> tuple[float, float]:
    """Top-1 agreement and mean ``KL(p_reference ‖ p)`` (nats per position, computed in float64) of
    logits ``[B, T, V]``, over the positions where ``mask [B, T]`` is true (default: all)."""
    agree = reference.argmax(-1) == logits.argmax(-1)  # (B, T)
    log_p, log_q = F.log_softmax(reference.double(), -1), F.log_softmax(logits.double(), -1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)  # (B, T)
    if mask is None:
        return float(agree.double().mean()), float(kl.mean())
    return float(agree[mask].double().mean()), float(kl[mask].mean())


@torch.no_grad()
def measure_fidelity(reference: nn.Module, spiking: nn.Module, input_ids: torch.Tensor,
                     attention_mask: torch.Tensor | None = None) -> FidelityReport:
    """Compare ``spiking`` with its float ``reference`` on ``input_ids [B, T]``.

    Both must be ``transformers`` models of the same shape (``spiking`` converted by
    :func:`~fastsnn_convert.hf.w8aspike.w8aspike`, or any other change); both run in eval mode with
    ``output_hidden_states=True``.

    :param attention_mask: ``[B, T]`` 1 for real tokens, 0 for padding (default: all real).
    :raises FastSNNError: ids that are not a non-empty ``[B, T]`` integer tensor, a mask of another
        shape, or models that return different numbers of hidden states.
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.numel() == 0 \
            or input_ids.dtype.is_floating_point:
        shape = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
        raise FastSNNError(f"measure_fidelity needs token ids as a non-empty integer tensor [batch, time], got {shape}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if attention_mask.shape != input_ids.shape:
        raise FastSNNError(f"attention_mask has shape {tuple(attention_mask.shape)}, input_ids "
                           f"{tuple(input_ids.shape)}; they must match")
    layers = spike_input_layers(spiking)
    for layer in layers.values():
        layer.reset_stats()
        layer.recording = True
    was = reference.training, spiking.training
    reference.eval()
    spiking.eval()
    try:
        ref = reference(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        out = spiking(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    finally:
        reference.train(was[0])
        spiking.train(was[1])
        for layer in layers.values():
            layer.recording = False
    if len(ref.hidden_states) != len(out.hidden_states):
        raise FastSNNError(f"the models return {len(ref.hidden_states)} and {len(out.hidden_states)} hidden "
                           "states; compare a converted model with its own original")
    mask = attention_mask.bool()  # (B, T)
    hidden = [_cosine(a, b, mask) for a, b in zip(ref.hidden_states, out.hidden_states)]
    weights = mask.unsqueeze(-1).to(ref.hidden_states[-1].dtype)  # (B, T, 1)
    pooled = [(h * weights).sum(1) / weights.sum(1).clamp_min(1)  # (B, d)
              for h in (ref.hidden_states[-1], out.hidden_states[-1])]
    report = FidelityReport(hidden_cosine=hidden,
                            embedding_cosine=float(F.cosine_similarity(pooled[0].double(), pooled[1].double()).mean()),
                            tokens=int(mask.sum()))
    logits_ref, logits_out = getattr(ref, "logits", None), getattr(out, "logits", None)
    if logits_ref is not None and logits_out is not None and logits_ref.dim() == 3:
        report.top1_agreement, report.kl = logit_agreement(logits_ref, logits_out, mask)
    if layers:
        values = sum(layer.stats["values"] for layer in layers.values())
        report.sparsity = sum(layer.stats["zeros"] for layer in layers.values()) / max(values, 1)
        report.spikes_per_value = sum(layer.stats["spikes"] for layer in layers.values()) / max(values, 1)
        report.layers = {name: {"sparsity": layer.stats["zeros"] / max(layer.stats["values"], 1),
                                "spikes_per_value": layer.stats["spikes"] / max(layer.stats["values"], 1),
                                "max_count": layer.stats["max_count"]}
                         for name, layer in layers.items()}
    return report


__all__ = ["FidelityReport", "measure_fidelity"]
