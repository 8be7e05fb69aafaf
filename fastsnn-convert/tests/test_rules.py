"""The relu/gelu/silu/linear rules through fastsnn.convert.convert, and the modules they insert."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import fastsnn
from fastsnn import FastSNNError, SpikeTensor
from fastsnn.convert import convert
from fastsnn_convert import SpikingActivation, TemporalLinear


def mlp(in_dim: int = 12, hidden: int = 20, out_dim: int = 5) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.GELU(approximate="tanh"),
        nn.Linear(hidden, hidden), nn.SiLU(), nn.LayerNorm(hidden), nn.Dropout(0.0), nn.Linear(hidden, out_dim),
    )


def test_rules_are_registered_with_params():
    rules = {c["name"]: c for c in fastsnn.components("rule")}
    assert {"relu", "gelu", "silu", "linear"} <= set(rules)
    assert "keep_activation" in rules["relu"]["params"]["properties"]
    assert rules["linear"]["description"].startswith("Linear → TemporalLinear")


def test_convert_replaces_each_kind_and_keeps_the_rest():
    ann = mlp()
    snn, report = convert(ann, neuron="test_adaptive")
    assert report.by_rule() == {"linear": 4, "relu": 1, "gelu": 1, "silu": 1, "dropout": 1}
    assert report.kept_types() == {"LayerNorm": 1}, "norms are kept as they are"
    assert [type(m).__name__ for m in snn] == [
        "TemporalLinear", "SpikingActivation", "TemporalLinear", "SpikingActivation", "TemporalLinear",
        "SpikingActivation", "LayerNorm", "Identity", "TemporalLinear",
    ]
    assert isinstance(snn[3].activation, nn.GELU) and snn[3].activation.approximate == "tanh"
    assert type(ann[1]) is nn.ReLU, "the ANN itself must stay untouched"
    text = str(report)
    assert "ReLU → SpikingActivation" in text and "AdaptiveRefNeuron after the activation" in text


def test_weights_are_identical_and_state_dict_names_unchanged():
    ann = mlp()
    snn, _ = convert(ann, neuron="test_adaptive")
    ann_state, snn_state = ann.state_dict(), snn.state_dict()
    assert set(ann_state) == set(snn_state)
    for name, tensor in ann_state.items():
        assert torch.equal(tensor, snn_state[name]), name
    # the converted model accepts the ANN's checkpoint as it is
    snn.load_state_dict(ann_state, strict=True)


@pytest.mark.parametrize("shape", [(3, 12), (2, 7, 12), (2, 3, 4, 12), (12,)])
def test_converted_model_accepts_any_leading_shape_and_stays_close(shape):
    ann = mlp()
    snn, _ = convert(ann, neuron={"name": "test_adaptive", "k": 16})
    x = torch.randn(*shape)
    with torch.no_grad():
        y_ann, y_snn = ann(x), snn(x)
    assert y_snn.shape == y_ann.shape == (*shape[:-1], 5)
    assert float((y_snn - y_ann).norm() / y_ann.norm()) < 0.15


def test_spiking_activation_error_is_at_most_half_a_threshold():
    torch.manual_seed(1)
    snn, _ = convert(nn.Sequential(nn.ReLU()), neuron={"name": "test_adaptive", "k": 3})
    x = torch.randn(4, 9, 33)
    act = torch.relu(x)
    spikes = snn[0].spikes(x)
    assert torch.all(spikes.counts >= 0), "counts of relu(x) are never negative"
    v_th = spikes.scale
    assert torch.all((snn(x) - act).abs() <= v_th / 2 + 1e-6)


def test_keep_activation_false_lets_the_neuron_replace_it():
    snn, report = convert(nn.Sequential(nn.SiLU()), rules=[{"name": "silu", "keep_activation": False}],
                          neuron="test_adaptive")
    assert isinstance(snn[0].activation, nn.Identity)
    x = torch.randn(2, 8)
    assert torch.equal(snn(x), snn[0].neuron(x))
    assert "instead of the activation" in str(report)


def test_gradients_flow_through_converted_model():
    snn, _ = convert(mlp(), neuron="test_adaptive")
    x = torch.randn(3, 12, requires_grad=True)
    snn(x).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert snn[0].weight.grad is not None


def test_subclasses_are_not_matched_but_the_activation_their_forward_calls_is_converted():
    class ShiftedReLU(nn.ReLU):
        def forward(self, x):
            return super().forward(x - 1)

    snn, report = convert(nn.Sequential(ShiftedReLU()), neuron="test_adaptive")
    assert report.kept[0].type_name == "ShiftedReLU" and report.kept[0].reason == "no rule matched"
    assert type(snn[0]).__name__ == "ShiftedReLU" and isinstance(snn[0].fx_relu, SpikingActivation)
    assert [(r.qualname, r.original, r.rule) for r in report.replaced] == [("0.fx_relu", "F.relu", "relu")]
    x = torch.randn(3, 8)
    assert torch.equal(snn(x), snn[0].fx_relu.neuron(torch.relu(x - 1))), "the subclass's own forward is kept"


def test_multihead_attention_out_proj_is_wrapped_without_changing_outputs():
    torch.manual_seed(0)
    ann = nn.MultiheadAttention(16, 4, batch_first=True)
    snn, report = convert(ann, rules=["linear"])
    assert isinstance(snn.out_proj, TemporalLinear)
    x = torch.randn(2, 5, 16)
    assert torch.allclose(snn(x, x, x)[0], ann(x, x, x)[0])
    assert report.by_rule() == {"linear": 1}


def test_per_feature_neuron_gets_the_inferred_width_or_the_fallback():
    model = nn.Sequential(nn.ReLU(), nn.Linear(6, 10), nn.GELU())
    snn, report = convert(model, neuron="test_per_channel", d_model=6)
    assert snn[0].neuron.threshold.shape == (6,)  # nothing before it: the fallback width
    assert snn[2].neuron.threshold.shape == (10,)  # inferred from the Linear before it
    assert [r.feature_dim for r in report.replaced if r.rule != "linear"] == [6, 10]
    assert snn(torch.randn(3, 6)).shape == (3, 10)


def test_per_feature_neuron_without_any_width_is_a_clear_error():
    with pytest.raises(FastSNNError, match=r"(?s)rule 'relu' on 0 \(ReLU\).*needs 'dim'.*pass d_model="):
        convert(nn.Sequential(nn.ReLU()), neuron="test_per_channel")


class TestTemporalLinear:
    def setup_method(self):
        torch.manual_seed(0)
        self.linear = nn.Linear(7, 3)
        self.layer = TemporalLinear.from_linear(self.linear)

    def test_shares_parameters(self):
        assert self.layer.weight is self.linear.weight and self.layer.bias is self.linear.bias
        no_bias = TemporalLinear.from_linear(nn.Linear(7, 3, bias=False))
        assert no_bias.bias is None and no_bias(torch.randn(2, 7)).shape == (2, 3)

    def test_dense_inputs_of_any_rank_match_the_linear_exactly(self):
        for shape in [(7,), (4, 7), (2, 5, 7), (2, 1, 3, 7)]:
            x = torch.randn(*shape)
            assert torch.equal(self.layer(x), self.linear(x))

    def _spikes(self):
        counts = torch.randint(-6, 7, (2, 5, 7)).float()
        scale = torch.rand(2, 5, 1) + 0.1
        return counts, scale

    def test_count_view_equals_dense_value(self):
        counts, scale = self._spikes()
        y = self.layer(SpikeTensor.count(counts, scale))
        assert torch.allclose(y, self.linear(counts * scale), atol=1e-5)

    def test_event_view_equals_count_view(self):
        counts, scale = self._spikes()
        count_view = SpikeTensor.count(counts, scale)
        events = count_view.to_events("test_ternary")
        assert events.num_steps == 6
        assert torch.allclose(self.layer(events), self.layer(count_view), atol=1e-5)

    def test_per_feature_scale_falls_back_to_the_dense_value(self):
        counts = torch.randint(0, 4, (3, 7)).float()
        scale = torch.rand(7) + 0.5
        y = self.layer(SpikeTensor.count(counts, scale))
        assert torch.allclose(y, self.linear(counts * scale), atol=1e-6)

    def test_count_path_gradients_equal_dense_gradients(self):
        counts, scale = self._spikes()
        scale_a = scale.clone().requires_grad_(True)
        scale_b = scale.clone().requires_grad_(True)
        self.layer(SpikeTensor.count(counts, scale_a)).sum().backward()
        grad_w = self.layer.weight.grad.clone()
        self.layer.weight.grad = None
        self.linear(counts * scale_b).sum().backward()
        assert torch.allclose(scale_a.grad, scale_b.grad, atol=1e-5)
        assert torch.allclose(grad_w, self.linear.weight.grad, atol=1e-5)

    def test_wrong_width_is_a_clear_error(self):
        with pytest.raises(FastSNNError, match=r"expects inputs \[\.\.\., 7\].*got shape \(2, 8\)"):
            self.layer(torch.randn(2, 8))
        with pytest.raises(FastSNNError, match="got shape"):
            self.layer(SpikeTensor.count(torch.ones(2, 5), 1.0))

    def test_non_tensor_input_is_a_clear_error(self):
        with pytest.raises(FastSNNError, match="takes a tensor or a SpikeTensor, got list"):
            self.layer([1.0] * 7)
