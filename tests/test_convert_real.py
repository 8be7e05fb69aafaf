"""ANN→SNN conversion with the real packages: fastsnn-convert's rules, fastsnn-neurons' neurons
and codings; calibration; and event-driven inference reproducing the count-mode network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastsnn import UnknownComponentError
from fastsnn.config import ConvertConfig
from fastsnn.convert import convert
from fastsnn.convert.ann2snn import TinyANN, convert_ann_to_snn
from fastsnn.testing import use_plugins
from fastsnn_convert import calibrate


@pytest.fixture(autouse=True)
def _first_party_plugins(monkeypatch):
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", "fastsnn-neurons,fastsnn-convert")
    with use_plugins(entry_points=True):
        yield


@pytest.fixture
def ann() -> TinyANN:
    torch.manual_seed(0)
    return TinyANN(in_dim=32, hidden=64, out_dim=10)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_tiny_ann_conversion_report_and_weights(ann):
    snn, report = convert_ann_to_snn(ann, return_report=True)
    assert report.by_rule() == {"linear": 3, "relu": 1, "gelu": 1}
    assert [r.feature_dim for r in report.replaced if r.rule in ("relu", "gelu")] == [64, 64]
    assert type(snn.act1.neuron).__name__ == "AdaptiveThresholdNeuron" and snn.act1.neuron.params.k == 3.0
    for name, tensor in ann.state_dict().items():
        assert torch.equal(tensor, snn.state_dict()[name]), name
    print(report)


def test_converted_output_is_close_and_calibration_makes_it_closer(ann):
    snn = convert_ann_to_snn(ann)
    x = torch.randn(64, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        default_error = relative_error(snn(x), ann(x))
    assert default_error < 0.25
    report = calibrate(snn, [torch.randn(128, 32)], max_rel_error=0.01)
    assert report.all_met and all(layer.k > 3 for layer in report.layers)
    with torch.no_grad():
        assert relative_error(snn(x), ann(x)) < default_error / 3


@pytest.mark.parametrize(("relu_coding", "gelu_coding"), [
    ("bitwise", "twos_complement"), ("binary", "ternary"), ("bitwise", "bitwise_bidirectional"),
])
def test_event_driven_inference_reproduces_the_count_mode_network(ann, relu_coding, gelu_coding):
    """Run the SNN layer by layer on spike trains: each TemporalLinear integrates event steps.

    ReLU counts are never negative, so unsigned codings carry them; GELU's need a signed one."""
    snn = convert_ann_to_snn(ann)
    x = torch.randn(3, 7, 32)
    with torch.no_grad():
        count_mode = snn(x)
        events_1 = snn.act1.spikes(snn.fc1(x)).to_events(relu_coding)
        hidden = snn.fc2(events_1)
        events_2 = snn.act2.spikes(hidden).to_events(gelu_coding)
        event_mode = snn.head(events_2)
    assert events_1.num_steps >= 1 and events_1.spikes.shape[1:] == (3, 7, 64)
    assert torch.allclose(event_mode, count_mode, atol=1e-4)


def test_convert_config_selects_rules_and_neuron_params(ann):
    config = ConvertConfig(neuron={"name": "adaptive_threshold", "k": 8, "signed": False}, rules=["relu", "linear"])
    snn, report = convert(ann, config)
    assert type(snn.act2) is nn.GELU and report.kept_types() == {"GELU": 1}
    assert snn.act1.neuron.params.k == 8 and snn.act1.neuron.params.signed is False


def test_transformer_layer_default_functional_relu_is_converted_and_linears_wrapped():
    torch.manual_seed(0)
    block = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True, dropout=0.0)
    snn, report = convert(block)
    # linear1, linear2, self_attn.out_proj; and the function F.relu held in block.activation
    assert report.by_rule() == {"linear": 3, "relu": 1, "dropout": 3} and report.not_converted == []
    assert [(r.qualname, r.original, r.feature_dim) for r in report.replaced if r.rule == "relu"] == [
        ("activation", "F.relu", 64)]
    assert report.kept_types() == {"LayerNorm": 2}
    assert "disabled TransformerEncoderLayer's fused inference path" in report.notes[0]
    x = torch.randn(2, 5, 32)
    snn.eval()
    with torch.no_grad():
        inference = snn(x)  # eval + no_grad: where torch would take its fused path
        h = snn.norm1(x + snn.self_attn(x, x, x, need_weights=False)[0])
        manual = snn.norm2(h + snn.linear2(snn.activation(snn.linear1(h))))
        assert torch.allclose(inference, manual, atol=1e-5)
        assert not torch.allclose(inference, block.eval()(x), atol=1e-4), "the spiking activation is in effect"


def test_transformer_layer_fused_path_cannot_bypass_a_converted_activation():
    torch.manual_seed(0)
    block = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True, dropout=0.0,
                                       activation=nn.GELU()).eval()
    snn, report = convert(block, neuron={"name": "adaptive_threshold", "k": 1})
    assert report.by_rule() == {"linear": 3, "gelu": 1, "dropout": 3}
    assert "disabled TransformerEncoderLayer's fused inference path" in report.notes[0]
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        inference = snn(x)  # eval + no_grad: where torch would take its fused path
    reference = snn(x).detach()  # autograd on: the module path
    assert torch.allclose(inference, reference, atol=1e-6)
    with torch.no_grad():
        assert not torch.allclose(inference, block(x), atol=1e-3), "the spiking activation is in effect"


def test_unknown_rule_with_the_real_registry_suggests_the_closest(ann):
    with pytest.raises(UnknownComponentError, match=r"unknown rule 'rellu' \(did you mean 'relu'\?\); "
                                                    r"available rule components: batchnorm_fold, clamp, conv, dropout, flatten, gelu, leaky_relu, "
                                                        r"linear, pool, relu, relu6, silu"):
        convert(ann, rules=["rellu"])
