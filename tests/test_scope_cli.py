"""``fastsnn scope`` as a user runs it: the installed script in a subprocess, on a SpikingLM built
from the first-party plugins (hybrid linear/SWA attention, adaptive-threshold neurons), saved as a
model folder and as an int8 ``.snn`` file, compared side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastsnn.config import ModelConfig
from fastsnn.data.text import CharTokenizer
from fastsnn.model import build_model
from fastsnn.quantize import quantize_model
from fastsnn.snn_file import write_snn
from fastsnn.testing import use_plugins

FIRST_PARTY = "fastsnn-neurons,fastsnn-attention,fastsnn-convert"
TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 30


@pytest.fixture(autouse=True)
def _first_party_plugins(monkeypatch):
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", FIRST_PARTY)
    with use_plugins(entry_points=True):
        yield


def fastsnn_command() -> list[str]:
    script = Path(sys.executable).with_name("fastsnn")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "fastsnn"]


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FASTSNN_LOAD_PLUGINS": FIRST_PARTY}
    return subprocess.run([*fastsnn_command(), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env, check=False)


@pytest.fixture
def models(tmp_path):
    tokenizer = CharTokenizer.from_text(TEXT)
    config = ModelConfig(vocab_size=48, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_seq_len=64,
                         attention="hybrid_alt", neuron={"name": "adaptive_threshold", "k": 3.0, "signed": False},
                         ffn="pulse")
    model = build_model(config, seed=0).eval()
    model.save_pretrained(tmp_path / "model", tokenizer=tokenizer.to_dict())
    quantize_model(model)
    write_snn(model, tmp_path / "int8.snn", tokenizer=tokenizer.to_dict())
    (tmp_path / "text.txt").write_text(TEXT)
    return tmp_path


def test_fastsnn_scope_compares_a_model_folder_with_its_int8_snn_file(models):
    result = run("scope", "--compare", "model", "int8.snn", "--data", "text.txt", "--out", "report",
                 "--max-batches", "2", "--seq-len", "32", "--batch-size", "2", cwd=models)
    assert result.returncode == 0, result.stderr
    assert "model: 2 batches" in result.stdout and "int8.snn: 2 batches" in result.stdout
    assert "report: report/report.html" in result.stdout
    assert "scope model:" in result.stderr  # the progress bar
    data = json.loads((models / "report" / "scope.json").read_text())
    first, second = data["reports"]
    assert [layer["name"] for layer in first["layers"]] == ["blocks.0.ffn.neuron", "blocks.1.ffn.neuron"]
    assert [layer["name"] for layer in second["layers"]] == [layer["name"] for layer in first["layers"]]
    for report in (first, second):
        assert report["summary"]["spiking_layers"] == 2 and report["energy"]["acs"] > 0
        assert {"binary", "bitwise", "ternary"} <= set(report["layers"][0]["codings"])
    files = sorted(p.name for p in (models / "report").iterdir())
    if "model1_firing.png" not in files:  # matplotlib is optional; the nox tests session installs it
        assert 'pip install "fastsnn-core[scope]"' in result.stderr
    assert {"report.html", "scope.json"} <= set(files)


def test_fastsnn_scope_on_text_outside_the_vocabulary_exits_2_and_writes_nothing(models):
    (models / "other.txt").write_text("Ωμέγα — characters the model never saw\n" * 5)
    result = run("scope", "model", "--data", "other.txt", "--out", "report", cwd=models)
    assert result.returncode == 2, result.stderr
    assert "Error: other.txt: 50 characters are not in model's vocabulary ('c' ×10, 'v' ×5, 'w' ×5, 'Ω' ×5, " in result.stderr
    assert "give text the model was trained on, or pass --skip-unknown to leave them out" in result.stderr
    assert not (models / "report").exists()
