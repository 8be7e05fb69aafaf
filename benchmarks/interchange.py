"""NIR and ONNX round trips: the largest absolute difference between FastSNN and the exported graph.

    python benchmarks/interchange.py [--model runs/shakespeare] [--seq-len 256]

NIR: FastSNN → .nir file → ``fastsnn.export.nir_graph.from_nir`` → FastSNN, on random inputs, for a
multi-step IF/LIF MLP (T=16), a fixed-threshold MLP conversion (staircase) and a converted CNN
(one-step IF). ONNX: ``export_onnx`` → ONNX Runtime vs PyTorch for a converted MLP
(adaptive-threshold) and, with ``--model``, a trained SpikingLM's prefill in fp32 and W8ASpike.
Needs ``pip install fastsnn-core[nir,onnx]`` and the first-party plugins.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

import fastsnn
from fastsnn.convert import convert
from fastsnn.export.nir_graph import from_nir, to_nir, write_nir
from fastsnn.export.onnx_graph import example_ids, export_onnx
from fastsnn.quantize import quantize_model


def nir_round_trip(model: nn.Module, x: torch.Tensor, tmp: Path, time_first: bool) -> float:
    with torch.no_grad():
        path = write_nir(to_nir(model.eval(), x), tmp / "m.nir")
        imported = from_nir(path)
        got = imported(x) if time_first else imported(x[None])[0]
        return float((got - model(x)).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained SpikingLM (run/model folder or .snn) to export to ONNX")
    parser.add_argument("--seq-len", type=int, default=256, help="prompt length of the LM's ONNX graph")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        mlp = nn.Sequential(nn.Linear(64, 128), fastsnn.create("neuron", "if", threshold=0.5, reset="hard", time_dim=0),
                            nn.Linear(128, 128), fastsnn.create("neuron", "lif", threshold=0.3, decay=0.75,
                                                                reset="hard", time_dim=0),
                            nn.Linear(128, 10))
        rows.append(("NIR", "multi-step IF/LIF MLP, x 16×32×64", nir_round_trip(mlp, torch.randn(16, 32, 64), tmp, True)))
        ann = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
        staircase, _ = convert(ann, neuron={"name": "fixed_threshold", "threshold": 0.05, "signed": False,
                                            "max_count": 15})
        rows.append(("NIR", "fixed-threshold MLP conversion (max_count 15), x 256×64",
                     nir_round_trip(staircase, torch.randn(256, 64), tmp, False)))
        cnn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                            nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
        snn_cnn, _ = convert(cnn, neuron={"name": "if", "threshold": 0.2, "reset": "hard"}, d_model=8)
        rows.append(("NIR", "converted CNN (one-step IF), x 16×3×32×32",
                     nir_round_trip(snn_cnn, torch.randn(16, 3, 32, 32), tmp, False)))
        adaptive, _ = convert(ann, neuron={"name": "adaptive_threshold", "signed": False})
        report = export_onnx(adaptive.eval(), torch.randn(256, 64), tmp / "mlp.onnx")
        rows.append(("ONNX", "adaptive-threshold MLP conversion, x 256×64", report["max_abs_diff"]))
        if args.model:
            for variant in ("fp32", "w8"):
                lm = fastsnn.load(args.model)
                if variant == "w8":
                    quantize_model(lm)
                ids = example_ids(lm, 1, args.seq_len)
                report = export_onnx(lm, ids, tmp / f"lm_{variant}.onnx")
                rows.append(("ONNX", f"{args.model} prefill, {variant}, ids 1×{ids.shape[1]} "
                             f"(largest logit magnitude {report['max_abs_output']:.3g})", report["max_abs_diff"]))
    print("| format | model | max abs difference |\n| --- | --- | ---: |")
    for fmt, what, diff in rows:
        print(f"| {fmt} | {what} | {diff:.3g} |")


if __name__ == "__main__":
    main()
