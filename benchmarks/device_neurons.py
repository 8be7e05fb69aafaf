"""Run the neurons benchmark on CPU (2 threads) and CUDA in one process; rows as JSON into a folder.

Used for the device-machine figures in BENCHMARKS.md (a quiet machine with a GPU):
``PYTHONPATH=fastsnn-core/src:fastsnn-neurons/src python benchmarks/device_neurons.py OUTDIR``.
"""

import json
import platform
import sys
from pathlib import Path

import torch

import fastsnn
import fastsnn_neurons.plugin
from fastsnn.testing import use_plugins

out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
with use_plugins(fastsnn_neurons.plugin):
    runs = [("cpu", {"threads": 2, "repeats": 30})]
    if torch.cuda.is_available():
        runs.append(("cuda", {"device": "cuda", "repeats": 100, "warmup": 10}))
    for label, params in runs:
        rows = fastsnn.create("benchmark", "neurons", **params)(lambda msg: print(msg, flush=True))
        meta = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                "gpu": torch.cuda.get_device_name() if label == "cuda" else None, "params": params}
        (out_dir / f"neurons_{label}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        for row in rows:
            print(label, {k: v for k, v in row.items() if k not in ("note", "section") and v is not None})
