"""Hugging Face causal LMs → FastSNN SpikingLM: the weight mapping reproduces the logits; the
hybrid spiking model saves, loads and trains."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("transformers")
fastsnn_neurons = pytest.importorskip("fastsnn_neurons")
fastsnn_attention = pytest.importorskip("fastsnn_attention")

import fastsnn  # noqa: E402
from fastsnn.errors import FastSNNError  # noqa: E402
from fastsnn.testing import use_plugins  # noqa: E402
from fastsnn.train.trainer import TrainConfig, Trainer  # noqa: E402
from fastsnn_attention import plugin as attention_plugin  # noqa: E402
from fastsnn_convert import plugin as convert_plugin  # noqa: E402
from fastsnn_convert.hf import convert_causal_lm  # noqa: E402
from fastsnn_convert.hf.tiny import VOCAB, bert, gpt2, ids, llama, mistral, opt, qwen2  # noqa: E402
from fastsnn_neurons import plugin as neurons_plugin  # noqa: E402

FAMILIES = {
    "llama": lambda: llama(attention_bias=True, rope_theta=50000.0),  # every bias, a non-default RoPE base
    "llama_tied": lambda: llama(tie_word_embeddings=True),
    "qwen2": qwen2,  # q/k/v biases, GQA
    "mistral": mistral,  # sliding window 6 < 13 tokens
    "gpt2": gpt2,  # Conv1D, learned positions, LayerNorm, gelu_new
}


@pytest.fixture(autouse=True)
def _plugins(_plugins):
    with use_plugins(convert_plugin, neurons_plugin, attention_plugin) as manager:
        yield manager


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_softmax_kept_and_spiking_off_reproduces_the_hf_logits(family):
    source = FAMILIES[family]()
    model, report = convert_causal_lm(source, "softmax", spiking=False)
    tokens = ids()
    with torch.no_grad():
        want = source(tokens).logits
        got = model.eval()(tokens)
    assert want.abs().max() > 1  # the logits are not trivially small
    torch.testing.assert_close(got, want, atol=5e-5, rtol=1e-4)
    assert report.tensors > 0 and not report.spiking
    # decoding token by token from the cache gives the same logits as the whole sequence
    cache = model.init_cache(tokens.shape[0])
    with torch.no_grad():
        steps = torch.cat([model(tokens[:, t : t + 1], cache=cache) for t in range(tokens.shape[1])], dim=1)
    torch.testing.assert_close(steps, want, atol=5e-5, rtol=1e-4)


def test_high_resolution_neurons_also_reproduce_the_logits():
    source = qwen2()
    model, _ = convert_causal_lm(source, "softmax", neuron={"name": "adaptive_threshold", "k": 1e6})
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(ids()), source(ids()).logits, atol=2e-3, rtol=1e-3)


def test_layout_decides_the_kernels_and_structure_is_kept():
    model, report = convert_causal_lm(qwen2(num_hidden_layers=4), {"name": "hybrid_alt"}, softmax_layers=[3], window=8)
    assert report.layers == ["linear", "swa", "linear", "softmax"]
    attn = [block.attn for block in model.blocks]
    assert attn[1].params.window == 8 and attn[1].params.rope_base == 10000.0
    assert all(a.heads.n_kv_heads == 2 and a.q_proj.bias is not None and a.o_proj.bias is None for a in attn)
    assert model.config.max_seq_len is not None  # a softmax layer needs one: the source's max_position_embeddings
    mist, report = convert_causal_lm(mistral(), "softmax", spiking=False)
    assert report.layers == ["swa", "swa"] and mist.blocks[0].attn.params.window == 6
    mist, report = convert_causal_lm(mistral(num_hidden_layers=3), ["softmax", "swa", "linear"], window=4)
    assert [b.attn.params.window for b in mist.blocks[:2]] == [6, 4]  # kept layer: the source's; new: window


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_hybrid_spiking_model_saves_loads_and_trains(family, tmp_path):
    model, report = convert_causal_lm(FAMILIES[family](), "hybrid_alt", window=8)
    assert report.spiking and report.layers == ["linear", "swa"]
    folder = model.save_pretrained(tmp_path / "converted", metadata={"converted_from": report.source})
    loaded = fastsnn.from_pretrained(folder)
    tokens = ids(4, 17)
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens), model.eval()(tokens))
    losses = []
    trainer = Trainer(loaded, TrainConfig(max_steps=3, lr=1e-3, batch_size=4, seq_len=17, log_every=1),
                      callbacks=[lambda record: losses.append(record["loss"])])
    trainer.fit(ids(4, 17, seed=s) for s in range(10))
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    assert all(torch.isfinite(p).all() for p in loaded.parameters())
    assert trainer.evaluate([ids(4, 17, seed=99)])["loss"] < 2 * math.log(VOCAB)


def test_unsupported_architectures_list_the_supported_ones():
    with pytest.raises(FastSNNError, match=r"unsupported Hugging Face architecture 'opt'.*gpt2, llama, mistral, qwen2"):
        convert_causal_lm(opt())
    with pytest.raises(FastSNNError, match=r"'bert'.*decoder-only causal LMs.*gpt2, llama, mistral, qwen2"):
        convert_causal_lm(bert())


def test_configs_fastsnn_cannot_reproduce_are_refused_precisely():
    with pytest.raises(FastSNNError, match=r"head_dim=4 but hidden_size/num_attention_heads = 32/4"):
        convert_causal_lm(llama(head_dim=4))
    with pytest.raises(FastSNNError, match="hidden_act='gelu'"):
        convert_causal_lm(llama(hidden_act="gelu"))
    with pytest.raises(FastSNNError, match="RoPE uses scaling 'linear'"):
        convert_causal_lm(llama(rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}))
    with pytest.raises(FastSNNError, match="activation_function='tanh'"):
        convert_causal_lm(gpt2(activation_function="tanh"))
    with pytest.raises(FastSNNError, match="learned position table has 64 rows"):
        convert_causal_lm(gpt2(), max_seq_len=32)
    with pytest.raises(FastSNNError, match=r"bad layout or softmax_layers:\n.*no_such_layout"):
        convert_causal_lm(llama(), "no_such_layout")
    with pytest.raises(FastSNNError, match=r"softmax_layers \[5\] out of range for n_layers=2"):
        convert_causal_lm(llama(), softmax_layers=[5])


def test_a_kernel_that_cannot_hold_the_weights_is_named():
    with pytest.raises(FastSNNError, match=r"layer 0: attention kernel 'hybrid_par' cannot hold these weights: it has "
                                           r"no 'n_kv_heads' parameter and the model needs n_kv_heads=2"):
        convert_causal_lm(llama(), "hybrid_par")
