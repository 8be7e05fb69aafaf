"""`fastsnn convert` as a user runs it: a subprocess with the installed plugins (fastsnn-convert registers
the command, fastsnn-neurons the fixed-threshold neuron); exit codes and messages of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("fastsnn_convert")
pytest.importorskip("fastsnn_neurons")
np = pytest.importorskip("numpy")

MODEL = '''
import torch
from torch import nn

def make_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
'''


def fastsnn(*args, cwd):
    env = {**os.environ, "FASTSNN_LOAD_PLUGINS": "convert,neurons"}
    return subprocess.run([sys.executable, "-m", "fastsnn", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_fastsnn_convert_end_to_end_and_its_bad_inputs(tmp_path):
    (tmp_path / "cmd_models.py").write_text(MODEL)
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).random((32, 8), dtype=np.float32))
    done = fastsnn("convert", "cmd_models:make_mlp", "--calib", "calib.npy", "--out", "snn", "--report", "json",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {r["rule"] for r in report["conversion"]["replaced"]} == {"linear", "relu", "dropout"}
    assert report["calibration"]["layers"][0]["method"] == "percentile"
    check = subprocess.run([sys.executable, "-c", (
        "import torch; from fastsnn_convert import load_converted; from cmd_models import make_mlp\n"
        "snn = load_converted('snn'); x = torch.rand(4, 8); print(float((snn(x) - make_mlp().eval()(x)).abs().max()))")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "FASTSNN_LOAD_PLUGINS": "convert,neurons", "PYTHONPATH": str(tmp_path)})
    assert check.returncode == 0, check.stderr
    assert float(check.stdout) < 0.05

    bad = fastsnn("convert", "cmd_models:make_mlp", "--calib", "calib.npy", "--out", "x", "--neuron", "lif_sintt",
                  cwd=tmp_path)
    assert bad.returncode == 2 and "unknown neuron 'lif_sintt' (did you mean 'lif_sint'?)" in bad.stderr
    missing = fastsnn("convert", "nowhere_xyz:make", "--calib", "calib.npy", "--out", "x", cwd=tmp_path)
    assert missing.returncode == 2 and "module 'nowhere_xyz' does not import" in missing.stderr
    np.save(tmp_path / "wide.npy", np.ones((4, 9), dtype=np.float32))
    shape = fastsnn("convert", "cmd_models:make_mlp", "--calib", "wide.npy", "--out", "x", cwd=tmp_path)
    assert shape.returncode == 2 and "calibration batch 0 (shape (4, 9)" in shape.stderr
    assert "Traceback" not in bad.stderr + missing.stderr + shape.stderr and not (tmp_path / "x").exists()
