"""W8ASpike: int8 weights (per channel / per group), the int8 × int8 spike path, whole-model
quantisation with tied weights, save/load, and every bad argument."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import fastsnn
from fastsnn import SpikeTensor
from fastsnn.config import ModelConfig
from fastsnn.model import build_model, from_pretrained
from fastsnn.quantize import Int8Embedding, Int8Linear, expand_scale, quantize_model, quantize_weight
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


def toy_model(**overrides):
    values = dict(vocab_size=32, d_model=16, n_layers=2, n_heads=2, max_seq_len=64, attention="cummean",
                  neuron={"name": "half", "threshold": 0.01})
    return build_model(ModelConfig(**{**values, **overrides}), seed=0).eval()


def test_per_channel_quantisation_exact_values():
    w = torch.tensor([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0], [-2.0, 1.0, 0.0]])
    q, scale = quantize_weight(w)
    assert q.dtype == torch.int8 and scale.dtype == torch.float32 and scale.shape == (3, 1)
    torch.testing.assert_close(scale[:, 0], torch.tensor([1 / 127, 1.0, 2 / 127]))
    # -0.5·127 = -63.5 rounds half to even → -64; 0.25·127 = 31.75 → 32
    assert q.tolist() == [[127, -64, 32], [0, 0, 0], [-127, 64, 0]]
    assert ((q.float() * scale - w).abs() <= scale / 2 + 1e-7).all()


def test_group_quantisation_has_one_scale_per_group_and_a_short_last_group():
    w = torch.tensor([[1.0, 2.0, 4.0, 8.0, 0.5]])
    q, scale = quantize_weight(w, group_size=2)
    torch.testing.assert_close(scale, torch.tensor([[2 / 127, 8 / 127, 0.5 / 127]]))
    assert q.tolist() == [[64, 127, 64, 127, 127]]  # 1/(2/127) = 63.5 → 64 (half to even)
    assert torch.equal(expand_scale(scale, 5, 2), scale[:, [0, 0, 1, 1, 2]])
    q_big, scale_big = quantize_weight(w, group_size=128)  # a group wider than the row: one group
    assert scale_big.shape == (1, 1) and torch.equal(q_big, quantize_weight(w)[0])


@pytest.mark.parametrize("group_size", [None, 4])
def test_int8_linear_computes_from_the_int8_weight(group_size):
    torch.manual_seed(0)
    linear = nn.Linear(10, 6)
    layer = Int8Linear.from_linear(linear, group_size)
    assert {name for name, _ in layer.named_buffers()} == {"qweight", "scale"}
    assert [name for name, _ in layer.named_parameters()] == ["bias"]  # no float weight kept
    x = torch.randn(3, 5, 10)
    reference = torch.nn.functional.linear(x, layer.qweight.float() * expand_scale(layer.scale, 10, group_size), linear.bias)
    torch.testing.assert_close(layer(x), reference)
    assert (layer(x) - linear(x)).abs().max() < 0.02


def test_groups_of_128_over_192_columns_are_128_then_64_wide():
    torch.manual_seed(0)
    linear = nn.Linear(192, 3, bias=False)
    layer = Int8Linear.from_linear(linear, group_size=128)
    assert layer.scale.shape == (3, 2)
    weight = layer.dequantize()
    torch.testing.assert_close(weight[:, :128], layer.qweight[:, :128].float() * layer.scale[:, :1])
    torch.testing.assert_close(weight[:, 128:], layer.qweight[:, 128:].float() * layer.scale[:, 1:])
    assert ((weight - linear.weight).abs() <= expand_scale(layer.scale, 192, 128) / 2 + 1e-7).all()
    counts = torch.randint(0, 4, (5, 192)).float()
    spikes = SpikeTensor.count(counts, torch.full((5, 1), 0.1))
    torch.testing.assert_close(layer(spikes), layer(spikes.to_dense()))
    embedding = nn.Embedding(4, 192)
    model = nn.Sequential(embedding)
    quantize_model(model, group_size=128)
    ids = torch.tensor([0, 3])
    assert ((model(ids) - embedding(ids)).abs() <= expand_scale(model[0].scale[ids], 192, 128) / 2 + 1e-7).all()


def test_dequantising_block_by_block_gives_the_same_result(monkeypatch):
    torch.manual_seed(0)
    layer = Int8Linear.from_linear(nn.Linear(8, 10), group_size=4)
    x = torch.randn(2, 8)
    whole = layer(x)
    monkeypatch.setattr("fastsnn.quantize.BLOCK_ELEMENTS", 24)  # 3 output rows per block
    torch.testing.assert_close(layer(x), whole)


@pytest.mark.parametrize("group_size", [None, 4])
def test_spike_counts_are_multiplied_in_int8(monkeypatch, group_size):
    torch.manual_seed(0)
    layer = Int8Linear.from_linear(nn.Linear(12, 5), group_size)
    counts = torch.randint(0, 6, (2, 3, 12)).float()
    scale = torch.rand(2, 3, 1) + 0.1  # one threshold per token
    spikes = SpikeTensor.count(counts, scale)
    calls = []
    real_int_mm = torch._int_mm
    monkeypatch.setattr(torch, "_int_mm", lambda a, b: calls.append((a.dtype, b.dtype)) or real_int_mm(a, b))
    out = layer(spikes)
    assert calls and all(pair == (torch.int8, torch.int8) for pair in calls)
    assert len(calls) == (1 if group_size is None else 3)
    torch.testing.assert_close(out, layer(spikes.to_dense()))


def test_counts_beyond_int8_take_the_dense_path(monkeypatch):
    layer = Int8Linear.from_linear(nn.Linear(4, 3))
    spikes = SpikeTensor.count(torch.tensor([[200.0, 0.0, 1.0, -3.0]]), 0.5)
    monkeypatch.setattr(torch, "_int_mm", lambda a, b: pytest.fail("_int_mm must not see counts beyond int8"))
    torch.testing.assert_close(layer(spikes), layer(spikes.to_dense()))


def test_int8_linear_names_a_wrong_width():
    layer = Int8Linear.from_linear(nn.Linear(4, 3))
    with pytest.raises(fastsnn.FastSNNError, match=r"Int8Linear expects inputs \[\.\.\., 4\], got shape \(2, 5\)"):
        layer(torch.zeros(2, 5))


def test_quantize_model_replaces_every_linear_and_keeps_the_tie():
    model = toy_model()
    ids = torch.randint(0, 32, (2, 9), generator=torch.Generator().manual_seed(1))
    before = model(ids)
    record = quantize_model(model, group_size=8)
    assert record["weights"] == "w8" and record["group_size"] == 8 and record["kv_cache"] is None
    assert "embed" in record["modules"] and "head" in record["modules"] and "blocks.0.ffn.down" in record["modules"]
    assert not [m for m in model.modules() if type(m) in (nn.Linear, nn.Embedding)]
    assert isinstance(model.embed, Int8Embedding) and model.embed.qweight is model.head.qweight
    assert model.quantization is record
    after = model(ids)
    assert (after - before).abs().max() < 0.05 * before.abs().max()
    assert after.argmax(-1).eq(before.argmax(-1)).float().mean() > 0.9


def test_the_ffn_hands_spikes_to_the_int8_down_projection(monkeypatch):
    model = toy_model()
    quantize_model(model)
    seen = []
    real_forward = Int8Linear._forward_counts
    monkeypatch.setattr(Int8Linear, "_forward_counts", lambda self, x: seen.append(x.view) or real_forward(self, x))
    model(torch.tensor([[1, 2, 3]]))
    assert seen == ["count", "count"]  # one down projection per block received the neuron's counts


def test_a_quantised_model_saves_smaller_and_loads_back_identical(tmp_path):
    model = toy_model(vocab_size=64, d_model=32)
    float_size = len(model.save_pretrained(tmp_path / "float").joinpath("model.safetensors").read_bytes())
    quantize_model(model)
    folder = model.save_pretrained(tmp_path / "w8")
    assert '"weights": "w8"' in (folder / "config.json").read_text()
    assert (folder / "model.safetensors").stat().st_size < 0.4 * float_size
    loaded = from_pretrained(folder)
    assert isinstance(loaded.head, Int8Linear) and loaded.embed.qweight is loaded.head.qweight
    ids = torch.tensor([[1, 2, 3, 4]])
    torch.testing.assert_close(loaded(ids), model(ids), rtol=0, atol=0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weights": "w4"}, "unknown weight format 'w4'; FastSNN quantises weights as: w8"),
    ({"kv_cache": "int4"}, "unknown KV-cache format 'int4'; available: int8"),
    ({"group_size": 0}, "group_size must be a positive integer"),
    ({"group_size": True}, "group_size must be a positive integer"),
    ({"weights": None}, "nothing to do"),
    ({"weights": None, "kv_cache": "int8"}, "no layer of this model can keep an int8 cache"),
])
def test_bad_quantisation_arguments_are_named(kwargs, message):
    with pytest.raises(fastsnn.FastSNNError, match=message.replace("(", r"\(").replace(")", r"\)")):
        quantize_model(toy_model(), **kwargs)


def test_quantising_twice_or_a_model_without_linears_is_refused():
    model = toy_model()
    quantize_model(model)
    with pytest.raises(fastsnn.FastSNNError, match=r"quantised already \(w8 per channel\)"):
        quantize_model(model)
    with pytest.raises(fastsnn.FastSNNError, match="no nn.Linear or nn.Embedding"):
        quantize_model(nn.Sequential(nn.ReLU()))
    with pytest.raises(fastsnn.FastSNNError, match="needs a torch.nn.Module, got dict"):
        quantize_model({})


def test_a_bad_quantisation_record_in_a_model_folder_is_named(tmp_path):
    import json

    model = toy_model()
    quantize_model(model)
    folder = model.save_pretrained(tmp_path / "m")
    meta = json.loads((folder / "config.json").read_text())
    meta["quantization"]["weights"] = "w3"
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(fastsnn.FastSNNError, match=r"config.json: its quantisation cannot be applied here: "
                                                     r"unknown weight format 'w3'"):
        from_pretrained(folder)
