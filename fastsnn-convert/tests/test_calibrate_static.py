"""Static calibration (max, percentile, per channel), dynamic k for a target sparsity, T steps under a
coding (set_time_steps / evaluate, count and event mode) and calibration data that is wrong."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from fastsnn import FastSNNError
from fastsnn.convert import convert
from fastsnn_convert import (
    SpikeTrain,
    calibrate,
    evaluate,
    event_inference,
    max_count_for,
    set_time_steps,
)


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4)).double()


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 3)).double().eval()


def data(n: int = 64, shape=(10,)) -> torch.Tensor:
    return torch.rand(n, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("method", ["max", "percentile"])
def test_static_ranges_per_layer(method):
    snn, _ = convert(mlp(), neuron="test_fixed")
    x = data()
    report = calibrate(snn, [x[:32], x[32:]], method=method, percentile=90, levels=64)
    acts = torch.relu(snn[0](x))
    expected = acts.max() if method == "max" else torch.quantile(acts.abs().float().flatten(), 0.9).double()
    torch.testing.assert_close(snn[1].clip, expected.to(snn[1].clip.dtype), rtol=1e-6, atol=1e-6)
    assert snn[1].neuron_ref == {"name": "test_fixed", "signed": False, "threshold": 1 / 64, "max_count": 64,
                                 "learnable": False}
    assert [layer.method for layer in report.layers] == [method, method]
    assert "λ" in str(report) and "sparsity" in str(report)
    if method == "max":
        assert report.all_met and report.layers[0].rel_error < 0.02, "64 levels over the max: a small error"


def test_per_channel_ranges_after_a_convolution_have_the_channel_shape():
    snn, _ = convert(small_cnn(), neuron="test_fixed")
    x = data(16, (1, 6, 6))
    report = calibrate(snn, [x], method="max", per_channel=True)
    clip = snn[1].clip
    assert clip.shape == (4, 1, 1) and report.layers[0].channels == 4
    expected = torch.relu(snn[0](x)).amax(dim=(0, 2, 3))
    torch.testing.assert_close(clip.flatten(), expected)
    assert snn(x).shape == (16, 3)


def test_dynamic_k_for_a_target_sparsity_picks_the_largest_k_that_keeps_it():
    snn, _ = convert(mlp(), neuron="test_adaptive")
    report = calibrate(snn, [data()], target_sparsity=0.45, candidates=[1, 2, 4, 8, 16])
    for layer in report.layers:
        by_k = {t.k: t.sparsity for t in layer.trials}
        assert layer.sparsity >= 0.45 and layer.met
        larger = [k for k in by_k if k > layer.k]
        assert all(by_k[k] < 0.45 for k in larger), "a larger k (more accurate) would fall below the target"
    assert "sparsity ≥ 0.45" in str(report)
    unreachable = calibrate(snn, [data()], target_sparsity=0.99, candidates=[1, 2])
    assert not unreachable.all_met and "NO" in str(unreachable)


def test_static_methods_need_a_fixed_threshold_neuron():
    snn, _ = convert(mlp(), neuron="test_adaptive")
    with pytest.raises(FastSNNError, match=r"neuron 'test_adaptive' has no parameter 'threshold'.*neuron='fixed_threshold'"):
        calibrate(snn, [data()], method="max")


@pytest.mark.parametrize("batch, message", [
    (torch.empty(0, 10, dtype=torch.float64), r"calibration batch 0 is empty \(shape \(0, 10\)\)"),
    (torch.full((4, 10), float("nan"), dtype=torch.float64), r"calibration batch 0 holds 40 NaN/inf value\(s\)"),
    (torch.rand(4, 7, dtype=torch.float64), r"calibration batch 0 \(shape \(4, 7\).*the model rejected it"),
])
def test_bad_calibration_data_is_named(batch, message):
    snn, _ = convert(mlp(), neuron="test_fixed")
    with pytest.raises(FastSNNError, match=message):
        calibrate(snn, [batch], method="max")
    with pytest.raises(FastSNNError, match="got no batches"):
        calibrate(snn, [], method="max")


def test_max_count_for_each_coding():
    assert max_count_for("test_unary", 5) == 5
    assert max_count_for("test_ternary", 3, signed=True) == 3
    with pytest.raises(FastSNNError, match="carries only counts >= 0"):
        max_count_for("test_unary", 3, signed=True)
    with pytest.raises(FastSNNError, match="num_steps must be a positive integer"):
        max_count_for("test_unary", 0)


def test_event_mode_equals_count_mode_and_counts_spikes():
    snn, _ = convert(small_cnn(), neuron="test_fixed")
    x = data(20, (1, 6, 6))
    calibrate(snn, [x], method="percentile", per_channel=True)
    event = evaluate(snn, x, coding="test_unary", num_steps=6, mode="event", targets=torch.zeros(20, dtype=torch.long))
    count = evaluate(snn, x, coding="test_unary", num_steps=6, mode="count")
    torch.testing.assert_close(event.outputs, count.outputs)
    assert [a.spikes for a in event.layers] == [a.spikes for a in count.layers]
    assert event.levels == {"1": 6} and event.layers[0].steps == 6
    assert 0 <= event.layers[0].sparsity <= 1 and event.spikes_per_sample > 0 and event.accuracy is not None
    assert snn[1].neuron.params.max_count is None or snn[1].neuron.params.max_count == 255, "the model is not changed"
    with torch.no_grad():  # a copy bounded to 6 levels, by hand: the same outputs
        bounded = copy.deepcopy(snn)
        set_time_steps(bounded, "test_unary", 6)
        torch.testing.assert_close(bounded(x), count.outputs)


def test_inside_event_inference_layers_hand_on_spike_trains():
    snn, _ = convert(mlp(), neuron="test_fixed")
    calibrate(snn, [data()], method="max")
    set_time_steps(snn, "test_unary", 4)
    x = data(3)
    with torch.no_grad(), event_inference(snn, "test_unary", 4) as record:
        train = snn[1](snn[0](x))
        assert isinstance(train, SpikeTrain) and train.num_steps == 4
        assert isinstance(train + 0, torch.Tensor) and train.sum().dim() == 0, "anything else reads it out"
        copied = pickle.loads(pickle.dumps(snn))
        out = snn(x)
    assert isinstance(out, torch.Tensor) and set(record.layers) == {"1", "3"}
    assert copied[1]._event is None, "a copy taken inside the block is a plain model"
    with torch.no_grad():
        torch.testing.assert_close(out, snn(x))


def test_counts_that_do_not_fit_the_steps_and_unsigned_codings_for_signed_layers_are_errors():
    snn, _ = convert(mlp(), neuron="test_adaptive")
    with pytest.raises(FastSNNError, match=r"layer 1.*bound the counts with fastsnn_convert.set_time_steps"), \
            torch.no_grad(), event_inference(snn, "test_unary", 1):
        snn(data(4) * 100)
    signed, _ = convert(nn.Sequential(nn.Linear(3, 3), nn.LeakyReLU()), neuron="test_fixed")
    with pytest.raises(FastSNNError, match=r"layer 1 \(LeakyReLU, signed neuron\) can emit negative counts"), \
            event_inference(signed, "test_unary", 4):
        pass
    with pytest.raises(FastSNNError, match="has no 'max_count' parameter"):
        set_time_steps(snn, "test_unary", 4)
    with pytest.raises(FastSNNError, match="has no spiking activations"):
        with event_inference(nn.Linear(2, 2), "test_unary"):
            pass


# --- the mse range --------------------------------------------------------------------------------

def _squared_error(row: torch.Tensor, lam: float, levels: int, lo: int) -> float:
    q = [min(max(round(float(a) * levels / lam), lo), levels) * lam / levels for a in row]
    return sum((qa - float(a)) ** 2 for qa, a in zip(q, row))


def _reference_mse_error(row: torch.Tensor, levels: int, lo: int) -> float:
    """Naive: the least squared error over every grid fraction of max |a|."""
    from fastsnn_convert.calibrate import MSE_GRID

    top = float(row.abs().max())
    return min(_squared_error(row, fraction * top, levels, lo) for fraction in MSE_GRID.tolist())


@pytest.mark.parametrize("levels,signed", [(1, False), (3, False), (15, False), (2, True)])
def test_mse_range_matches_a_naive_search(levels, signed):
    from fastsnn_convert.calibrate import mse_range

    gen = torch.Generator().manual_seed(levels)
    tail = torch.distributions.Exponential(1.0).sample((2, 257)) if not signed else torch.randn(2, 257, generator=gen)
    values = tail.float() if signed else tail.abs().float()
    got = mse_range(values, levels, signed)
    assert got.shape == (2,)
    lo = -levels if signed else 0
    for row, lam in zip(values, got):
        assert _squared_error(row, float(lam), levels, lo) == pytest.approx(_reference_mse_error(row, levels, lo),
                                                                            rel=1e-4)


def test_mse_clips_below_the_max_at_few_levels_and_beats_max_and_percentile():
    from fastsnn_convert.calibrate import mse_range

    values = torch.distributions.Exponential(1.0).sample((1, 20000))
    one, many = float(mse_range(values, 1)), float(mse_range(values, 255))
    assert one < 0.5 * float(values.max()) and one < many  # one level: clip hard; many: keep the tail
    snn, _ = convert(mlp(), neuron="test_fixed")
    x = data()
    errors = {}
    for method in ("max", "percentile", "mse"):
        report = calibrate(snn, [x], method=method, percentile=99, levels=3)
        errors[method] = [layer.rel_error for layer in report.layers]
        assert [layer.method for layer in report.layers] == [method, method]
    for i in range(2):
        assert errors["mse"][i] <= min(errors["max"][i], errors["percentile"][i]) + 1e-9


def test_mse_per_channel_has_the_channel_shape():
    snn, _ = convert(small_cnn(), neuron="test_fixed")
    report = calibrate(snn, [data(16, (1, 6, 6))], method="mse", per_channel=True, levels=3)
    assert snn[1].clip.shape == (4, 1, 1) and report.layers[0].channels == 4
    assert bool((snn[1].clip > 0).all())
