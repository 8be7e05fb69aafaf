"""W8ASpike on Hugging Face models (BERT, GPT-2, Llama, Qwen2): every block linear reads spikes."""

from __future__ import annotations

import copy
import pickle
import sys

import pytest
import torch
from torch import nn

pytest.importorskip("transformers")
fastsnn_neurons = pytest.importorskip("fastsnn_neurons")

from fastsnn.errors import FastSNNError  # noqa: E402
from fastsnn.quantize import Int8Linear  # noqa: E402
from fastsnn.testing import use_plugins  # noqa: E402
from fastsnn_convert import plugin as convert_plugin  # noqa: E402
from fastsnn_convert.hf import SpikeInputLinear, measure_fidelity, require_transformers, w8aspike  # noqa: E402
from fastsnn_convert.hf.tiny import bert, gpt2, ids, llama, opt, qwen2  # noqa: E402
from fastsnn_convert.hf.w8aspike import as_linear  # noqa: E402
from fastsnn_neurons import plugin as neurons_plugin  # noqa: E402

#: linear layers per block: q, k, v, o + gate, up, down (Llama/Qwen2); c_attn, c_proj, c_fc, c_proj
#: (GPT-2); query, key, value, attention output, intermediate, output (BERT)
PER_BLOCK = {"llama": 7, "qwen2": 7, "gpt2": 4, "bert": 6}
BUILDERS = {"llama": llama, "qwen2": qwen2, "gpt2": gpt2, "bert": bert}
FINE = {"name": "adaptive_threshold", "k": 1e5}  # a neuron of very high resolution: counts ≈ x · 1e5 / mean|x|


@pytest.fixture(autouse=True)
def _plugins(_plugins):
    with use_plugins(convert_plugin, neurons_plugin) as manager:
        yield manager


@pytest.mark.parametrize("arch", sorted(BUILDERS))
@pytest.mark.parametrize("weights", ["float", "int8"])
def test_every_block_linear_reads_spikes_and_nothing_else_changes(arch, weights):
    model = BUILDERS[arch]()
    spiking = copy.deepcopy(model)
    report = w8aspike(spiking, weights=weights)
    layers = [m for m in spiking.modules() if isinstance(m, SpikeInputLinear)]
    assert len(report.modules) == len(layers) == 2 * PER_BLOCK[arch]
    assert all(type(layer.neuron).__name__ == "AdaptiveThresholdNeuron" for layer in layers)  # the default, by name
    assert all(isinstance(layer.linear, Int8Linear if weights == "int8" else nn.Linear) for layer in layers)
    assert report.kept == (["pooler.dense"] if arch == "bert" else ["lm_head"])
    fid = measure_fidelity(model, spiking, ids())
    # k=3: about 3 spikes per value, a good share of zeros, the output still close to the float model
    assert 2.5 < fid.spikes_per_value < 3.5 and 0.02 < fid.sparsity < 0.6
    assert min(fid.hidden_cosine) > 0.9 and fid.embedding_cosine > 0.9
    assert set(fid.layers) == set(report.modules)
    if arch != "bert":
        assert 0 <= fid.kl < 0.5 and fid.top1_agreement > 0.3  # chance: 1/101


@pytest.mark.parametrize("arch", sorted(BUILDERS))
def test_high_resolution_spikes_with_float_weights_reproduce_the_model(arch):
    model = BUILDERS[arch]()
    spiking = copy.deepcopy(model)
    w8aspike(spiking, weights="float", neuron=FINE)
    fid = measure_fidelity(model, spiking, ids())
    assert min(fid.hidden_cosine) > 0.99999 and fid.embedding_cosine > 0.99999
    assert fid.sparsity < 0.01
    if arch != "bert":
        assert fid.top1_agreement == 1.0 and fid.kl < 1e-6


def test_int8_weights_cost_fidelity_but_little():
    model = llama()
    fine_float, fine_int8 = copy.deepcopy(model), copy.deepcopy(model)
    w8aspike(fine_float, weights="float", neuron=FINE)
    w8aspike(fine_int8, weights="int8", neuron=FINE)
    a, b = measure_fidelity(model, fine_float, ids()), measure_fidelity(model, fine_int8, ids())
    assert b.kl > a.kl and b.hidden_cosine[-1] > 0.999


def test_gpt2_conv1d_becomes_an_equal_linear():
    conv = gpt2().transformer.h[0].mlp.c_fc  # Conv1D: weight [in, out]
    x = torch.randn(3, 5, conv.weight.shape[0])
    linear = as_linear(conv)
    assert isinstance(linear, nn.Linear) and linear.weight.shape == conv.weight.t().shape
    torch.testing.assert_close(linear(x), conv(x))


def test_padding_is_left_out_of_the_fidelity():
    model = bert()
    spiking = copy.deepcopy(model)
    w8aspike(spiking, neuron=FINE, weights="float")
    tokens = ids()
    mask = torch.ones_like(tokens)
    mask[0, 7:] = 0
    fid = measure_fidelity(model, spiking, tokens, attention_mask=mask)
    assert fid.tokens == int(mask.sum())
    with pytest.raises(FastSNNError, match="attention_mask has shape"):
        measure_fidelity(model, spiking, tokens, attention_mask=mask[:, :3])


def test_converted_layers_survive_pickle_and_deepcopy():
    spiking = qwen2()
    w8aspike(spiking)
    layer = spiking.model.layers[0].self_attn.q_proj
    x = torch.randn(2, 3, layer.in_features)
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        torch.testing.assert_close(clone(x), layer(x))


def test_unsupported_architecture_lists_the_supported_ones():
    with pytest.raises(FastSNNError, match=r"unsupported Hugging Face architecture 'opt'.*bert, gpt2, llama"):
        w8aspike(opt())


def test_bad_inputs_name_what_was_wrong():
    model = llama()
    with pytest.raises(FastSNNError, match="no_such_neuron"):
        w8aspike(model, neuron="no_such_neuron")
    with pytest.raises(FastSNNError, match="unknown weight format 'int4'"):
        w8aspike(model, weights="int4")
    assert not any(isinstance(m, SpikeInputLinear) for m in model.modules())  # nothing changed
    w8aspike(model)
    with pytest.raises(FastSNNError, match="w8aspike was applied"):
        w8aspike(model)
    with pytest.raises(FastSNNError, match="expected a Hugging Face transformers model"):
        w8aspike(nn.Linear(2, 2))


def test_missing_transformers_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(FastSNNError, match=r'pip install "fastsnn-convert\[hf\]"'):
        require_transformers()
