"""relayout: a FastSNN SpikingLM with another attention layout / spiking FFN, keeping its weights."""

from __future__ import annotations

import pytest
import torch

fastsnn_neurons = pytest.importorskip("fastsnn_neurons")
fastsnn_attention = pytest.importorskip("fastsnn_attention")

from fastsnn.errors import FastSNNError  # noqa: E402
from fastsnn.model import build_model  # noqa: E402
from fastsnn.testing import use_plugins  # noqa: E402
from fastsnn_attention import plugin as attention_plugin  # noqa: E402
from fastsnn_convert import plugin as convert_plugin  # noqa: E402
from fastsnn_convert.hf import relayout  # noqa: E402
from fastsnn_neurons import plugin as neurons_plugin  # noqa: E402

SPIKING = dict(ffn={"name": "swiglu", "spiking": True}, neuron={"name": "adaptive_threshold", "k": 3.0})


@pytest.fixture(autouse=True)
def _plugins(_plugins):
    with use_plugins(convert_plugin, neurons_plugin, attention_plugin) as manager:
        yield manager


def teacher():
    return build_model(dict(vocab_size=50, d_model=32, n_layers=4, n_heads=4, max_seq_len=64, attention="softmax",
                            ffn={"name": "swiglu", "spiking": False}), seed=0).eval()


def test_softmax_to_hybrid_alt_reuses_every_tensor():
    source = teacher()
    model, report = relayout(source, attention={"name": "hybrid_alt", "swa": {"name": "swa", "window": 8}}, **SPIKING)
    assert report.layers == [("softmax", "linear"), ("softmax", "swa")] * 2
    assert not report.new and not report.dropped and len(report.reused) == len(source.state_dict())
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, source.state_dict()[name]), name
    assert model.training and model.blocks[0].ffn.params.spiking


def test_a_window_covering_the_sequence_keeps_the_logits_exactly():
    """SWA with window ≥ T is softmax attention: same projections, same RoPE, same outputs."""
    source = teacher()
    model, _ = relayout(source, attention={"name": "swa", "window": 64})
    tokens = torch.randint(0, 50, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(tokens), source(tokens), atol=1e-5, rtol=1e-5)


def test_new_tensors_are_listed_and_the_source_is_left_alone():
    source = teacher()
    before = {k: v.clone() for k, v in source.state_dict().items()}
    _, report = relayout(source, attention={"name": "linear", "norm": "rmsnorm"})
    assert report.new == [f"blocks.{i}.attn.out_norm.weight" for i in range(4)]
    assert "new (initialised, to be trained)" in report.summary()
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in before.items())


def test_bad_changes_are_refused_with_the_reason():
    with pytest.raises(FastSNNError, match=r"blocks.0.attn.k_proj.weight has shape \(32, 32\) in the source"):
        relayout(teacher(), attention={"name": "softmax", "n_kv_heads": 2})
    with pytest.raises(FastSNNError, match=r"changed model config is invalid:\n.*model.d_model"):
        relayout(teacher(), d_model=-1)
    with pytest.raises(FastSNNError, match="needs a fastsnn SpikingLM"):
        relayout(torch.nn.Linear(2, 2))


def test_head_layout_biases_and_rope_follow_the_weights_into_new_kernels():
    source = build_model(dict(vocab_size=50, d_model=32, n_layers=2, n_heads=4, max_seq_len=64,
                              attention=[{"name": "softmax", "n_kv_heads": 2, "qkv_bias": True, "rope_base": 500.0}] * 2,
                              ffn={"name": "swiglu", "spiking": False}), seed=0).eval()
    model, report = relayout(source, attention={"name": "hybrid_alt", "swa": {"name": "swa", "window": 8}})
    assert not report.new and not report.dropped
    linear, swa = model.blocks[0].attn, model.blocks[1].attn
    assert linear.heads.n_kv_heads == swa.heads.n_kv_heads == 2 and linear.q_proj.bias is not None
    assert swa.params.rope_base == 500.0 and swa.params.window == 8
    wide, _ = relayout(source, attention={"name": "swa", "window": 64})  # covers the sequence: softmax again
    tokens = torch.randint(0, 50, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(wide.eval()(tokens), source(tokens), atol=1e-5, rtol=1e-5)
