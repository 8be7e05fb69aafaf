"""Cross-package: the default spiking LM (pulse FFN + fastsnn-neurons' adaptive_threshold) with every
fastsnn-attention kernel and layout decodes one token at a time exactly like a full forward.

adaptive_threshold is per token, so a token's spikes depend only on that token's hidden state:
incremental decoding must reproduce the parallel logits. The models run in float64: the kernels
agree to fp32 rounding (fastsnn-attention's own tests check fp32), but a rounding neuron turns a
1e-7 difference that lands on a rounding boundary into a whole spike, so fp32 equality of spiking
logits can depend on the CPU's SIMD path; float64 makes such a flip vanishingly unlikely.
"""

from __future__ import annotations

import pytest
import torch

import fastsnn_attention.plugin
import fastsnn_neurons.plugin
from fastsnn.config import ModelConfig
from fastsnn.model import build_model
from fastsnn.testing import use_plugins

VOCAB = 97
LAYOUTS = {
    "default (hybrid_alt)": None,
    "linear": "linear",
    "linear_rmsnorm": {"name": "linear", "norm": "rmsnorm", "feature_map": "elu1"},
    "gla": {"name": "gla", "n_kv_heads": 2, "chunk_size": 16},
    "swa": {"name": "swa", "window": 6},
    "softmax": {"name": "softmax", "n_kv_heads": 2},
    "hybrid_par": {"name": "hybrid_par", "linear": "gla", "swa": {"name": "swa", "window": 5}},
    "explicit_list": ["gla", {"name": "swa", "window": 3}, "linear", "softmax"],
}


@pytest.fixture(autouse=True)
def _plugins():
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster, and much faster on a busy machine
    with use_plugins(fastsnn_neurons.plugin, fastsnn_attention.plugin):
        yield
    torch.set_num_threads(previous_threads)


def spiking_lm(attention, **extra):
    fields = {"vocab_size": VOCAB, "d_model": 64, "n_layers": 4, "n_heads": 4, "max_seq_len": 128, **extra}
    if attention is not None:
        fields["attention"] = attention
    torch.manual_seed(0)
    return build_model(ModelConfig(**fields)).double().eval()


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_decode_equals_prefill_with_the_adaptive_threshold_ffn(layout):
    model = spiking_lm(LAYOUTS[layout])
    assert model.config.neuron.name == "adaptive_threshold" and model.config.ffn.name == "pulse"
    ids = torch.randint(0, VOCAB, (2, 37))
    with torch.no_grad():
        full = model(ids)
        cache = model.init_cache(2)
        pieces = [model.prefill(ids[:, :20], cache, chunk_size=8)[:, -4:]]
        pieces += [model(ids[:, t : t + 1], cache=cache) for t in range(20, 37)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full[:, 16:], rtol=0, atol=1e-4)


def test_softmax_layers_on_the_default_layout_decode_like_prefill():
    model = spiking_lm(None, softmax_layers=[2])
    assert [type(b.attn).__name__ for b in model.blocks] == [
        "LinearAttention", "SlidingWindowAttention", "SoftmaxAttention", "SlidingWindowAttention"]
    ids = torch.randint(0, VOCAB, (1, 30))
    with torch.no_grad():
        full = model(ids)
        cache = model.init_cache(1)
        steps = [model(ids[:, t : t + 1], cache=cache) for t in range(30)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=0, atol=1e-4)


def test_generate_with_the_default_model_extends_the_prompt_greedily():
    model = spiking_lm(None)
    prompt = torch.randint(0, VOCAB, (2, 9))
    out = model.generate(prompt, max_new_tokens=5, temperature=0, prefill_chunk=4)
    with torch.no_grad():
        seq = prompt
        for _ in range(5):
            seq = torch.cat([seq, model(seq)[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(out, seq)


def test_the_default_model_trains_through_spikes_and_attention():
    model = spiking_lm(None).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = torch.randint(0, VOCAB, (4, 24))
    losses = []
    for _ in range(8):
        optimiser.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1
