"""CNN rules: conv/pool/flatten/dropout for temporal inputs and spikes, BatchNorm folding, the new
activation rules, functional activations through torch.fx, and what is reported when nothing converts."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import fastsnn
from fastsnn import FastSNNError, SpikeTensor
from fastsnn.convert import ConversionRule, convert
from fastsnn.testing import use_plugins
from fastsnn_convert import (
    SpikingActivation,
    TemporalConv1d,
    TemporalConv2d,
    TemporalFlatten,
    TemporalLinear,
    TemporalPool,
    fold_batchnorm,
)
from fastsnn_convert import plugin as convert_plugin


def randomise_batchnorm(model: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen))
    return model.eval()


def cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return randomise_batchnorm(nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(8 * 2 * 2, 5), nn.BatchNorm1d(5),
    ).double())


def test_a_cnn_converts_every_part_and_batchnorm_folds_exactly():
    ann = cnn()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    snn, report = convert(ann, rules=["batchnorm_fold", "conv", "pool", "flatten", "dropout", "linear"])
    assert report.by_rule() == {"batchnorm_fold": 3, "conv": 2, "pool": 2, "flatten": 1, "dropout": 1, "linear": 1}
    folded = [r for r in report.replaced if r.rule == "batchnorm_fold"]
    assert [(r.qualname, r.note.split(" (")[0]) for r in folded] == [
        ("1", "folded into 0"), ("5", "folded into 4"), ("11", "folded into 10")]
    assert isinstance(snn[0], TemporalConv2d) and isinstance(snn[3], TemporalPool)
    assert isinstance(snn[8], TemporalFlatten) and snn[8].sample_dims == 3
    assert snn[4].bias is not None, "a conv without bias gets the folded one"
    with torch.no_grad():  # no activations converted: the network is the ANN, BatchNorm folded
        torch.testing.assert_close(snn(x), ann(x), rtol=1e-10, atol=1e-10)
    assert isinstance(ann[1], nn.BatchNorm2d), "the ANN itself is untouched"


def test_batchnorm_that_follows_no_layer_or_feeds_two_is_kept():
    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.bn = nn.BatchNorm1d(4)
            self.bn_first = nn.BatchNorm1d(4)

        def forward(self, x):
            h = self.lin(self.bn_first(x))
            return self.bn(h) + h  # lin's output is read twice: folding would change h

    model = randomise_batchnorm(Branches())
    assert fold_batchnorm(model) == []
    assert isinstance(model.bn, nn.BatchNorm1d) and isinstance(model.bn_first, nn.BatchNorm1d)


def test_batchnorm_folds_by_container_adjacency_where_the_model_does_not_trace():
    class Untraceable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3))

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                return self.body(x)
            return self.body(-x)

    model = randomise_batchnorm(Untraceable().double())
    x = torch.randn(2, 2, 9, dtype=torch.float64)
    expected = model(x)
    records = fold_batchnorm(model)
    assert [r.qualname for r in records] == ["body.1"] and "does not trace" in records[0].note
    torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize("conv, shape", [(nn.Conv1d(3, 5, 3, padding=1), (2, 3, 11)),
                                         (nn.Conv2d(3, 5, 3, stride=2), (2, 3, 9, 7))])
def test_temporal_conv_takes_plain_unbatched_and_b_t_inputs(conv, shape):
    wrapped = (TemporalConv1d if isinstance(conv, nn.Conv1d) else TemporalConv2d).from_conv(conv)
    assert wrapped.weight is conv.weight and wrapped.bias is conv.bias
    x = torch.randn(*shape)
    torch.testing.assert_close(wrapped(x), conv(x))
    torch.testing.assert_close(wrapped(x[0]), conv(x[0]))
    temporal = torch.randn(shape[0], 4, *shape[1:])  # [B, T, C, ...]
    out = wrapped(temporal)
    assert out.shape[:2] == (shape[0], 4)
    torch.testing.assert_close(out[:, 2], conv(temporal[:, 2]))
    with pytest.raises(FastSNNError, match=r"expects \[C, \.\.\.\], \[B, C, \.\.\.\] or \[B, T, C, \.\.\.\]"):
        wrapped(torch.randn(1, 1, 1, *shape))


@pytest.mark.parametrize("scale_shape", [(), (3, 1, 1), (2, 3, 5, 1)])
def test_temporal_conv_on_counts_and_events_equals_the_dense_path(scale_shape):
    torch.manual_seed(2)
    conv = TemporalConv2d.from_conv(nn.Conv2d(3, 4, 3, padding=1).double())
    counts = torch.randint(0, 6, (2, 3, 5, 5)).double()
    scale = torch.rand(scale_shape, dtype=torch.float64) + 0.1
    dense = conv(counts * scale)
    spikes = SpikeTensor.count(counts, scale)
    torch.testing.assert_close(conv(spikes), dense)
    torch.testing.assert_close(conv(spikes.to_events("test_unary")), dense)


def test_temporal_linear_takes_a_per_feature_scale():
    lin = TemporalLinear.from_linear(nn.Linear(6, 3).double())
    counts = torch.randint(-3, 4, (4, 6)).double()
    scale = torch.rand(6, dtype=torch.float64) + 0.1  # per-channel calibration: one value per input feature
    torch.testing.assert_close(lin(SpikeTensor.count(counts, scale)), lin(counts * scale))
    torch.testing.assert_close(lin(SpikeTensor.count(counts, scale).to_events("test_ternary")), lin(counts * scale))


def test_max_pool_of_spikes_is_the_max_over_counts_not_per_step():
    pool = TemporalPool(nn.MaxPool1d(2))
    counts = torch.tensor([[[2.0, 2.0, 0.0, 3.0]]])  # [B, C, L]
    events = torch.tensor([[[[1, 0, 0, 1]]], [[[0, 1, 0, 1]]], [[[1, 0, 0, 1]]], [[[0, 1, 0, 0]]]], dtype=torch.int8)
    train = SpikeTensor.events(events, 0.5, coding="test_unary")
    assert torch.equal(train.counts, counts.long())
    pooled = pool(train)
    assert pooled.view == "event" and torch.equal(pooled.counts, torch.tensor([[[2, 3]]]))
    per_step_max = events.view(4, 1, 1, 2, 2).amax(-1).sum(0)  # an OR of the trains: 1010 | 0101 → 4 spikes
    assert per_step_max[0, 0, 0] == 4, "per-step max over-counts; the module passes the winner's train instead"
    assert torch.equal(pool(SpikeTensor.count(counts, 0.5)).counts, torch.tensor([[[2.0, 3.0]]]))
    torch.testing.assert_close(pool(train).to_dense(), F.max_pool1d(counts * 0.5, 2))


def test_max_pool_with_a_varying_spike_value_pools_the_values():
    pool = TemporalPool(nn.MaxPool2d(2))
    counts = torch.randint(0, 5, (1, 2, 4, 4)).float()
    scale = torch.rand(1, 2, 4, 1) + 0.1  # one V_th per row (the adaptive threshold's last axis)
    out = pool(SpikeTensor.count(counts, scale))
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, F.max_pool2d(counts * scale, 2))


def test_avg_pool_and_flatten_keep_temporal_inputs():
    snn, _ = convert(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                   nn.Linear(8, 3)))
    x = torch.randn(2, 5, 1, 6, 6)  # [B, T, C, H, W]
    out = snn(x)
    assert out.shape == (2, 5, 3)
    torch.testing.assert_close(out[:, 1], snn(x[:, 1]))


@pytest.mark.parametrize("module, rule", [(nn.ReLU6(), "relu6"), (nn.LeakyReLU(0.2), "leaky_relu"),
                                          (nn.Hardtanh(-2, 2), "clamp"), (nn.ReLU(), "relu")])
def test_every_activation_rule_inserts_the_chosen_neuron(module, rule):
    snn, report = convert(nn.Sequential(nn.Linear(4, 6), module), neuron={"name": "test_fixed", "threshold": 0.01})
    assert report.by_rule()[rule] == 1
    layer = snn[1]
    assert isinstance(layer, SpikingActivation) and type(layer.activation) is type(module)
    nonnegative = rule in ("relu6", "relu")
    assert layer.neuron.params.signed is (not nonnegative), "non-negative activations get an unsigned neuron"
    assert layer.can_be_negative is (not nonnegative)
    x = torch.randn(3, 4) * 3
    torch.testing.assert_close(snn(x), module(snn[0](x)), atol=0.005 + 1e-6, rtol=0)


def test_functional_activations_convert_through_fx():
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c = nn.Linear(5, 5), nn.Linear(5, 5), nn.Linear(5, 5)

        def forward(self, x):
            h = F.relu6(self.a(x))
            h = F.leaky_relu(self.b(h), 0.1)
            return torch.relu(F.hardtanh(self.c(h), -1.0, 1.0))

    snn, report = convert(Functional(), neuron="test_adaptive")
    calls = sorted(r.original for r in report.replaced if r.replacement == "SpikingActivation")
    assert calls == ["F.hardtanh", "F.leaky_relu", "F.relu6", "torch.relu"] and report.not_converted == []
    assert snn(torch.randn(2, 5)).shape == (2, 5)


def test_a_model_that_does_not_trace_keeps_module_rules_and_reports_the_functional_calls():
    class Untraceable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin, self.act = nn.Linear(4, 4), nn.ReLU()

        def forward(self, x):
            if x.mean() > 10:  # data-dependent
                return F.relu6(self.lin(x))
            return self.act(F.gelu(self.lin(x)))

    _snn, report = convert(Untraceable(), neuron="test_adaptive")
    assert report.by_rule() == {"linear": 1, "relu": 1}, "module rules still apply"
    assert {n.call.split(" ")[0] for n in report.not_converted} == {"relu6", "gelu"}
    assert all("does not trace" in n.reason for n in report.not_converted)
    assert "not converted (activations called as functions)" in str(report)


def test_a_model_with_nothing_to_convert_gets_a_clear_report():
    _snn, report = convert(nn.Sequential(nn.LayerNorm(4), nn.Tanh()))
    assert report.replaced == [] and report.kept_types() == {"LayerNorm": 1, "Tanh": 1}
    assert "nothing to convert" in str(report) and "the model is returned unchanged" in str(report)


def test_norms_are_kept():
    _snn, report = convert(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.RMSNorm(4), nn.ReLU()),
                           neuron="test_adaptive")
    assert report.kept_types() == {"LayerNorm": 1, "RMSNorm": 1}


def test_a_rule_that_returns_a_non_module_is_named():
    class Broken(ConversionRule):
        def matches(self, module, qualname):
            return isinstance(module, nn.ReLU)

        def convert(self, module, qualname, context):
            return "not a module"

    with pytest.raises(FastSNNError, match=r"rule 'Broken' returned str for 1; a rule's convert\(\) must return an nn.Module"):
        convert(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), rules=[Broken()])


def test_a_plugin_adds_a_rule_through_the_hook():
    class TanhRule(ConversionRule):
        """Tanh → Identity (a toy)."""

        def matches(self, module, qualname):
            return type(module) is nn.Tanh

        def convert(self, module, qualname, context):
            return nn.Identity()

    class Plugin:
        @fastsnn.hookimpl
        def fastsnn_register_conversion_rules(self, register):
            register("toy_tanh", TanhRule)

    with use_plugins(convert_plugin, ("toy", Plugin())):
        _snn, report = convert(nn.Sequential(nn.Linear(2, 2), nn.Tanh()), rules=["toy_tanh", "linear"])
    assert report.by_rule() == {"toy_tanh": 1, "linear": 1}


def test_an_uninstalled_neuron_is_named_with_what_is_installed():
    with pytest.raises(FastSNNError, match=r"unknown neuron 'lif_sintt'.*available neuron components: .*test_adaptive"):
        convert(nn.Sequential(nn.ReLU()), neuron="lif_sintt")
