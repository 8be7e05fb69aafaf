"""fastsnn convert: MODULE:CALLABLE → calibrated spiking network → model folder → load_converted, and
the command's bad inputs (each named, nothing written)."""

from __future__ import annotations

import json
import re
import sys
import uuid

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from fastsnn import FastSNNError
from fastsnn_convert import load_converted
from fastsnn_convert.cli import convert_command
from fastsnn_convert.folder import import_callable

MODEL_CODE = '''
import torch
from torch import nn

def make_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 3 * 3, 3))

def make_plain():
    return nn.Sequential(nn.LayerNorm(6), nn.Tanh())

def not_a_model():
    return 42
'''


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    name = f"convert_models_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MODEL_CODE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).random((12, 1, 6, 6), dtype=np.float32))
    yield tmp_path, name
    sys.modules.pop(name, None)


def run(*args):
    return CliRunner().invoke(convert_command, [str(a) for a in args], catch_exceptions=True)


def test_convert_writes_a_folder_that_loads_back_and_matches(workdir):
    tmp, name = workdir
    module = import_callable(f"{name}:make_cnn").__globals__
    ann = module["make_cnn"]()
    ann[1].running_mean.fill_(0.2)  # trained statistics, to be folded
    save_file(ann.state_dict(), tmp / "w.safetensors")
    result = run(f"{name}:make_cnn", "--weights", "w.safetensors", "--calib", "calib.npy", "--out", "out",
                 "--neuron", "test_fixed", "--per-channel", "--report", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["conversion"]["replaced"][0]["rule"] == "batchnorm_fold"
    assert report["calibration"]["method"] == "percentile" and report["calibration"]["layers"][0]["channels"] == 4
    meta = json.loads((tmp / "out" / "config.json").read_text())
    assert meta["converted"]["source"] == f"{name}:make_cnn" and meta["converted"]["layers"]["2"]["neuron"]["max_count"] == 255
    snn = load_converted(tmp / "out")
    x = torch.rand(5, 1, 6, 6)
    with torch.no_grad():
        assert snn[2].clip.shape == (4, 1, 1)
        torch.testing.assert_close(snn(x), ann.eval()(x), atol=0.02, rtol=0)  # 255 levels: close to the ANN


def test_a_model_with_nothing_to_convert_is_reported_not_an_error(workdir):
    _tmp, name = workdir
    np.save("flat.npy", np.ones((4, 6), dtype=np.float32))
    result = run(f"{name}:make_plain", "--calib", "flat.npy", "--out", "plain", "--neuron", "test_fixed")
    assert result.exit_code == 0, result.output
    assert "nothing to convert" in result.output and "calibration: skipped" in result.output


@pytest.mark.parametrize("source, message", [
    ("no_such_module_xyz:make", r"module 'no_such_module_xyz' does not import \(ModuleNotFoundError"),
    ("{name}:missing", r"has no 'missing'; its callables: make_cnn, make_plain, not_a_model"),
    ("{name}:not_a_model", r"returned a int, not a torch.nn.Module"),
    ("just_a_name", r"must be 'module:callable'"),
])
def test_a_source_that_does_not_import_is_named(workdir, source, message):
    tmp, name = workdir
    result = run(source.format(name=name), "--calib", "calib.npy", "--out", "out", "--neuron", "test_fixed")
    assert isinstance(result.exception, FastSNNError) and not (tmp / "out").exists()
    assert re.search(message, str(result.exception)), str(result.exception)


@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p, np.zeros((0, 1, 6, 6), dtype=np.float32)), r"is empty \(shape \(0, 1, 6, 6\)\)"),
    (lambda p: np.save(p, np.full((3, 1, 6, 6), np.nan, dtype=np.float32)), r"holds 108 NaN/inf value\(s\)"),
    (lambda p: np.save(p, np.ones((3, 2, 6, 6), dtype=np.float32)), r"calibration batch 0 \(shape \(3, 2, 6, 6\).*rejected"),
    (lambda p: p.write_text("not numpy"), r"is not a readable .npy array"),
])
def test_bad_calibration_files_are_named_and_nothing_is_written(workdir, make, message):
    tmp, name = workdir
    make(tmp / "bad.npy")
    result = run(f"{name}:make_cnn", "--calib", "bad.npy", "--out", "out", "--neuron", "test_fixed")
    assert isinstance(result.exception, FastSNNError), result.output
    assert re.search(message, str(result.exception)), str(result.exception)
    assert not (tmp / "out").exists()


def test_safetensors_calibration_data_and_an_unknown_neuron(workdir):
    tmp, name = workdir
    save_file({"inputs": torch.rand(4, 1, 6, 6)}, tmp / "calib.safetensors")
    assert run(f"{name}:make_cnn", "--calib", "calib.safetensors", "--out", "o", "--neuron", "test_fixed").exit_code == 0
    result = run(f"{name}:make_cnn", "--calib", "calib.npy", "--out", "o2", "--neuron", "lif_sintt")
    assert "unknown neuron 'lif_sintt'" in str(result.exception) and not (tmp / "o2").exists()
    save_file({"w": torch.zeros(2)}, tmp / "bad_w.safetensors")
    result = run(f"{name}:make_cnn", "--weights", "bad_w.safetensors", "--calib", "calib.npy", "--out", "o3",
                 "--neuron", "test_fixed")
    assert "does not match the model" in str(result.exception) and "missing tensors: 0.bias" in str(result.exception)


def test_a_folder_whose_source_changed_is_refused(workdir):
    tmp, name = workdir
    assert run(f"{name}:make_cnn", "--calib", "calib.npy", "--out", "out", "--neuron", "test_fixed").exit_code == 0
    meta = json.loads((tmp / "out" / "config.json").read_text())
    meta["converted"]["source"] = f"{name}:make_plain"
    (tmp / "out" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(FastSNNError, match=r"layer '2' of the stored network is not a spiking layer of the rebuilt one"):
        load_converted(tmp / "out")
