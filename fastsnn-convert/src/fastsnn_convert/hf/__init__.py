"""Hugging Face transformers → spiking (extra ``fastsnn-convert[hf]``), and FastSNN relayout.

- :func:`w8aspike` — SpikingBrain's W8ASpike in place on a BERT-, GPT-2- or Llama/Qwen2-family
  model: every linear layer of its blocks reads spike counts of a registered neuron, with int8
  weights as an option; :func:`measure_fidelity` compares it with the float model.
- :func:`convert_causal_lm` — a Llama/Mistral/Qwen2 causal LM → a FastSNN hybrid spiking
  :class:`~fastsnn.SpikingLM` reusing its weights.
- :func:`relayout` — a FastSNN SpikingLM with another attention layout and spiking FFN, keeping
  its weights (the FastSNN → FastSNN half of the same recipe).

``transformers`` is imported only when a Hugging Face model is handled (GPT-2's ``Conv1D``); the
models are built or loaded by the caller (``AutoModelForCausalLM.from_pretrained(...)``).
"""

from fastsnn_convert.hf.architecture import HFConversionReport, convert_causal_lm
from fastsnn_convert.hf.architectures import ARCHITECTURES, supported
from fastsnn_convert.hf.fidelity import FidelityReport, measure_fidelity
from fastsnn_convert.hf.lazy import require_transformers
from fastsnn_convert.hf.relayout import RelayoutReport, relayout
from fastsnn_convert.hf.w8aspike import SpikeInputLinear, W8ASpikeReport, w8aspike

__all__ = [
    "ARCHITECTURES",
    "FidelityReport",
    "HFConversionReport",
    "RelayoutReport",
    "SpikeInputLinear",
    "W8ASpikeReport",
    "convert_causal_lm",
    "measure_fidelity",
    "relayout",
    "require_transformers",
    "supported",
    "w8aspike",
]
