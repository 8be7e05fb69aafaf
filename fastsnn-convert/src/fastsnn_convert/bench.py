"""``fastsnn bench convert``: ANN→SNN conversion on real data (scikit-learn's bundled digits).

Trains a 3-layer MLP and a small CNN (BatchNorm and pooling) on ``sklearn.datasets.load_digits``
(8×8 images, 1,797 samples, bundled: no download) with a fixed stratified split and seed, converts
each with FastSNN (static thresholds: ``max``, the 99.9th percentile, and the mse-optimal range
for the levels of each ``T`` — per layer and per channel), and reports test accuracy against time steps ``T`` under the ``binary`` and ``bitwise``
codings in event mode (:func:`fastsnn_convert.evaluate`), with spikes per inference and per-layer
sparsity. In the same run, on the same trained ANNs, SpikingJelly 2.x's ``ann2snn`` converter
(rate coding, IF neurons; modes ``Max`` and ``99.9%``) is simulated for ``T`` steps — if
SpikingJelly is importable (it is installed only in the benchmark's environment,
``benchmarks/requirements-bench.txt``); otherwise its rows say why they are missing.

scikit-learn is needed by this benchmark only: ``pip install scikit-learn``.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from fastsnn import FastSNNError, Params
from fastsnn.benchmark import Benchmark, Progress
from fastsnn.convert import convert
from fastsnn_convert.calibrate import calibrate
from fastsnn_convert.evaluate import evaluate
from fastsnn_convert.events import max_count_for


def load_digits_split(seed: int, test_size: float) -> tuple[torch.Tensor, ...]:
    """``(x_train, y_train, x_test, y_test)``: digits as ``[N, 1, 8, 8]`` floats in [0, 1], a stratified split."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise FastSNNError(
            "fastsnn bench convert needs scikit-learn for its bundled digits data set: pip install scikit-learn "
            "(or pip install \"fastsnn-convert[bench]\")"
        ) from None
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    y = torch.tensor(digits.target, dtype=torch.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return x_train, y_train, x_test, y_test


def make_mlp() -> nn.Module:
    """64 → 128 → 128 → 10, ReLU (3 Linear layers)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def make_cnn() -> nn.Module:
    """[1, 8, 8] → conv 16 → BN → ReLU → max pool → conv 32 → BN → ReLU → avg pool → Linear 10."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),  # (16, 4, 4)
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),  # (32, 2, 2)
        nn.Flatten(), nn.Linear(128, 10),
    )


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, seed: int, lr: float = 2e-3) -> nn.Module:
    """Adam, batch 64, cross-entropy; deterministic for a seed."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    return model.eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(-1) == y).float().mean())


class ConvertBenchmark(Benchmark):
    """Digits MLP and CNN converted: accuracy vs T (binary/bitwise, event mode) beside SpikingJelly ann2snn."""

    class Params(Params):
        seed: int = Field(0, description="seed of the split, the initialisation and the training order")
        test_size: float = Field(0.3, gt=0, lt=1, description="share of the digits held out for testing")
        epochs_mlp: int = Field(60, ge=1, description="training epochs of the MLP")
        epochs_cnn: int = Field(40, ge=1, description="training epochs of the CNN")
        calib_samples: int = Field(512, ge=1, description="training samples used for calibration")
        steps: list[int] = Field([1, 2, 4, 8, 16, 32], description="time steps T to evaluate")
        codings: list[str] = Field(["binary", "bitwise"], description="codings to evaluate (registered names)")
        percentile: float = Field(99.9, gt=0, le=100, description="percentile of the 'percentile' calibration")
        spikingjelly: bool = Field(True, description="also run SpikingJelly's ann2snn (if importable)")
        threads: int = Field(2, ge=1, description="torch CPU threads")

    def run(self, progress: Progress) -> list[dict[str, Any]]:
        p = self.params
        torch.set_num_threads(p.threads)
        x_train, y_train, x_test, y_test = load_digits_split(p.seed, p.test_size)
        calib = x_train[: p.calib_samples]
        rows: list[dict[str, Any]] = []
        for net_name, factory, epochs in (("mlp", make_mlp, p.epochs_mlp), ("cnn", make_cnn, p.epochs_cnn)):
            torch.manual_seed(p.seed)
            started = time.perf_counter()
            ann = train(factory(), x_train, y_train, epochs=epochs, seed=p.seed)
            ann_acc = accuracy(ann, x_test, y_test)
            progress(f"{net_name}: trained in {time.perf_counter() - started:.1f}s, test accuracy {ann_acc:.4f}")
            rows.append({"net": net_name, "converter": "ANN", "method": "-", "coding": "-", "T": None,
                         "accuracy": round(100 * ann_acc, 2), "delta_pp": 0.0, "count_mode_equal": None,
                         "spikes_per_inference": None, "sparsity": "", "threads": p.threads})
            for method, per_channel in (("max", False), ("percentile", False), ("percentile", True),
                                        ("mse", False), ("mse", True)):
                snn, _report = convert(ann, neuron="fixed_threshold")
                if method != "mse":  # one range for every T; mse picks it for the levels of each T below
                    calibrate(snn, [calib], method=method, percentile=p.percentile, per_channel=per_channel)
                label = {"max": "max", "mse": "mse"}.get(method, f"p{p.percentile:g}") + ("/channel" if per_channel else "")
                for coding in p.codings:
                    for steps in p.steps:
                        if method == "mse":
                            calibrate(snn, [calib], method="mse", per_channel=per_channel,
                                      levels=max_count_for(coding, steps))
                        result = evaluate(snn, x_test, coding=coding, num_steps=steps, targets=y_test, mode="event")
                        counted = evaluate(snn, x_test, coding=coding, num_steps=steps, targets=y_test, mode="count")
                        rows.append({
                            "net": net_name, "converter": "fastsnn", "method": label, "coding": coding, "T": steps,
                            "accuracy": round(100 * result.accuracy, 2),
                            "delta_pp": round(100 * (result.accuracy - ann_acc), 2),
                            "count_mode_equal": bool(torch.equal(result.outputs.argmax(-1), counted.outputs.argmax(-1))),
                            "spikes_per_inference": round(result.spikes_per_sample, 1),
                            "sparsity": " ".join(f"{a.sparsity:.2f}" for a in result.layers),
                            "threads": p.threads,
                        })
                progress(f"{net_name}: fastsnn {label} done")
            if p.spikingjelly:
                rows += _spikingjelly_rows(net_name, ann, ann_acc, calib, x_test, y_test, p, progress)
        return rows


def _spikingjelly_rows(net_name: str, ann: nn.Module, ann_acc: float, calib: torch.Tensor, x_test: torch.Tensor,
                       y_test: torch.Tensor, p: Any, progress: Progress) -> list[dict[str, Any]]:
    try:
        from spikingjelly.activation_based import functional as sj_functional
        from spikingjelly.activation_based.ann2snn import Converter, RateCodingRecipe
    except Exception as err:  # not installed, or an incompatible version
        note = f"SpikingJelly not importable ({type(err).__name__}: {err}); install benchmarks/requirements-bench.txt"
        progress(note)
        return [{"net": net_name, "converter": "spikingjelly", "method": "-", "coding": "rate", "T": None,
                 "accuracy": None, "delta_pp": None, "count_mode_equal": None, "spikes_per_inference": None,
                 "sparsity": note, "threads": p.threads}]
    rows = []
    for mode in ("Max", f"{p.percentile:g}%"):
        snn = Converter(RateCodingRecipe([calib], mode=mode)).convert(copy.deepcopy(ann)).eval()
        spiking = [m for m in snn.modules() if type(m).__name__ == "IFNode"]
        for steps in p.steps:
            counts = {id(m): 0.0 for m in spiking}
            values = {id(m): 0 for m in spiking}
            silent = {}

            def hook(module: nn.Module, _inputs: Any, output: torch.Tensor, counts: dict = counts,
                     values: dict = values, silent: dict = silent) -> None:
                counts[id(module)] += float(output.sum())
                values[id(module)] = output.numel()
                fired = silent.setdefault(id(module), torch.zeros_like(output, dtype=torch.bool))
                fired |= output != 0

            handles = [m.register_forward_hook(hook) for m in spiking]
            with torch.no_grad():
                sj_functional.reset_net(snn)
                out = sum(snn(x_test) for _ in range(steps))
            for handle in handles:
                handle.remove()
            acc = float((out.argmax(-1) == y_test).float().mean())
            rows.append({
                "net": net_name, "converter": "spikingjelly", "method": mode.lower(), "coding": "rate (IF)", "T": steps,
                "accuracy": round(100 * acc, 2), "delta_pp": round(100 * (acc - ann_acc), 2), "count_mode_equal": None,
                "spikes_per_inference": round(sum(counts.values()) / x_test.shape[0], 1),
                "sparsity": " ".join(f"{1 - float(silent[id(m)].float().mean()):.2f}" for m in spiking if id(m) in silent),
                "threads": p.threads,
            })
        progress(f"{net_name}: spikingjelly {mode} done")
    return rows
