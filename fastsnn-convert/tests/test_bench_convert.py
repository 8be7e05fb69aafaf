"""`fastsnn bench convert` on a tiny budget (the figures in BENCHMARKS.md come from the full run)."""

from __future__ import annotations

import sys

import pytest

from fastsnn import FastSNNError
from fastsnn.testing import use_plugins
from fastsnn_convert import plugin as convert_plugin
from fastsnn_convert.bench import ConvertBenchmark, load_digits_split


def test_the_benchmark_needs_scikit_learn_and_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(FastSNNError, match=r"needs scikit-learn .*pip install scikit-learn"):
        load_digits_split(0, 0.3)


def test_a_tiny_run_reports_ann_and_spiking_rows():
    pytest.importorskip("sklearn")
    neurons = pytest.importorskip("fastsnn_neurons.plugin")
    with use_plugins(convert_plugin, neurons):
        bench = ConvertBenchmark(epochs_mlp=1, epochs_cnn=1, steps=[2], calib_samples=64, spikingjelly=False,
                                 threads=1)
        rows = bench.run(lambda message: None)
    anns = [r for r in rows if r["converter"] == "ANN"]
    spiking = [r for r in rows if r["converter"] == "fastsnn"]
    assert [r["net"] for r in anns] == ["mlp", "cnn"]
    assert len(spiking) == 2 * 5 * 2, "two nets × five calibrations × two codings at one T"
    assert all(r["count_mode_equal"] for r in spiking), "event mode and count mode agree"
    assert all(0 <= r["accuracy"] <= 100 and r["spikes_per_inference"] > 0 for r in spiking)
    assert len(spiking[0]["sparsity"].split()) == 2 and len(spiking[-1]["sparsity"].split()) == 2
