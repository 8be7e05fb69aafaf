"""A run folder is never damaged; same seed, same run; validate accepts only what train accepts;
every user error is exit 2 naming where (issue 8 §1–§4), through the real CLI."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from fastsnn.cli.main import cli
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin

TEXT = "the quick brown fox jumps over the lazy dog. " * 60

CONFIG = """
[model]
vocab_size = 40
d_model = 16
n_layers = 2
n_heads = 2
max_seq_len = 64
attention = "cummean"
neuron = {neuron}

[data]
tokenizer = "char"

[train]
max_steps = {steps}
batch_size = 4
seq_len = 16
log_every = 1
lr = {lr}
checkpoint_every = 2
"""


def config(neuron='"half"', steps=4, lr=0.01) -> str:
    return CONFIG.format(neuron=neuron, steps=steps, lr=lr)


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


@pytest.fixture
def files(tmp_path):
    (tmp_path / "text.txt").write_text(TEXT)
    (tmp_path / "run.toml").write_text(config())
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` → sha256 of its bytes (hidden staging files included)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def train(files, *extra, out="run"):
    return invoke("train", files / "run.toml", "--data", files / "text.txt", "--out", files / out, *extra)


# -- §1 a run folder is never damaged -------------------------------------------------------------
def test_a_used_run_folder_is_refused_without_resume_and_nothing_changes(files):
    assert train(files).exit_code == 0
    before = snapshot(files / "run")
    result = train(files, "--max-steps", "2")
    assert result.exit_code == 2
    assert "already holds files" in result.output and "--resume" in result.output and "--overwrite" in result.output
    assert snapshot(files / "run") == before
    result = train(files, "--max-steps", "2", "--overwrite")
    assert result.exit_code == 0, result.output
    assert (files / "run" / "latest").read_text() == "step_00000002"
    assert not (files / "run" / "step_00000004").exists(), "--overwrite replaced the old run"


def test_resume_with_unusable_data_writes_nothing(files):
    assert train(files).exit_code == 0
    before = snapshot(files / "run")
    (files / "short.txt").write_text("the quick")
    result = invoke("train", files / "run.toml", "--data", files / "short.txt", "--out", files / "run", "--resume")
    assert result.exit_code == 2 and "fewer than one window of seq_len=16" in result.output
    assert snapshot(files / "run") == before


def test_resume_refuses_other_data_and_other_settings_naming_each_difference(files):
    assert train(files).exit_code == 0
    before = snapshot(files / "run")
    (files / "upper.txt").write_text(TEXT.upper())
    result = invoke("train", files / "run.toml", "--data", files / "upper.txt", "--out", files / "run", "--resume",
                    "--max-steps", "6")
    assert result.exit_code == 2, result.output
    assert "character 'T' is not in the tokenizer's vocabulary" in result.output  # never a silent remap
    (files / "other.txt").write_text(TEXT.replace("fox", "cat"))
    result = invoke("train", files / "run.toml", "--data", files / "other.txt", "--out", files / "run", "--resume",
                    "--max-steps", "6")
    assert result.exit_code == 2 and "  data: " in result.output and "--allow-change data" in result.output
    (files / "run.toml").write_text(config(neuron='{name = "half", threshold = 0.25}', lr=0.02))
    result = train(files, "--resume", "--max-steps", "6")
    assert result.exit_code == 2
    assert "model.neuron.threshold: None in the run, 0.25 now" in result.output
    assert "train.lr: 0.01 in the run, 0.02 now" in result.output
    assert "--allow-change model.neuron.threshold --allow-change train.lr" in result.output
    assert snapshot(files / "run") == before
    (files / "run.toml").write_text(config(lr=0.02))
    result = train(files, "--resume", "--max-steps", "6", "--allow-change", "train.lr")
    assert result.exit_code == 0, result.output
    assert json.loads((files / "run" / "run.json").read_text())["train"]["lr"] == 0.02


def test_resume_with_only_safe_changes_continues(files):
    assert train(files).exit_code == 0
    result = train(files, "--resume", "--max-steps", "6")
    assert result.exit_code == 0, result.output
    assert (files / "run" / "latest").read_text() == "step_00000006"


def test_a_killed_checkpoint_write_leaves_no_staging_behind(files):
    assert train(files).exit_code == 0
    stale = files / "run" / ".step_00000006.x1.tmp"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half written")
    assert train(files, "--resume", "--max-steps", "6").exit_code == 0
    assert not stale.exists() and not [p for p in (files / "run").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_files_are_created_with_the_users_umask(files):
    old = os.umask(0o022)
    try:
        assert train(files).exit_code == 0
        assert invoke("export", files / "run", "--out", files / "exported").exit_code == 0
    finally:
        os.umask(old)
    for path in [files / "run" / "latest", files / "run" / "tokenizer.json", files / "run" / "run.json",
                 *(files / "exported").iterdir(), *(files / "run" / "step_00000004").iterdir()]:
        assert path.stat().st_mode & 0o777 == 0o644, path
    assert (files / "exported").stat().st_mode & 0o777 == 0o755


def test_a_flipped_weight_byte_is_found_on_load(files):
    assert train(files).exit_code == 0
    weights = files / "run" / "step_00000004" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x10
    weights.write_bytes(bytes(data))
    result = invoke("generate", files / "run", "--prompt", "the", "--max-new-tokens", "2")
    assert result.exit_code == 2 and "do not match the checksum" in result.output and str(weights) in result.output


def test_non_finite_weights_are_refused_at_export_naming_the_tensor(files):
    assert train(files).exit_code == 0
    step = files / "run" / "step_00000004"
    tensors = load_file(step / "model.safetensors")
    tensors["blocks.0.ffn.up.weight"][0, 0] = float("nan")
    save_file(tensors, step / "model.safetensors")
    meta = json.loads((step / "config.json").read_text())
    meta["weights_sha256"] = hashlib.sha256((step / "model.safetensors").read_bytes()).hexdigest()
    (step / "config.json").write_text(json.dumps(meta))
    result = invoke("export", files / "run", "--out", files / "exported")
    assert result.exit_code == 2 and "blocks.0.ffn.up.weight" in result.output and "NaN or inf" in result.output
    assert not (files / "exported").exists()


# -- §2 same seed, same run ------------------------------------------------------------------------
def test_two_runs_of_one_config_and_seed_end_with_equal_weights(files):
    torch.manual_seed(123)  # the global RNG's state must not matter
    assert train(files, out="a").exit_code == 0
    torch.rand(7)
    assert train(files, out="b").exit_code == 0
    a = load_file(files / "a" / "step_00000004" / "model.safetensors")
    b = load_file(files / "b" / "step_00000004" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- §3 validate accepts only what train accepts ---------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ('vocab_size = 96\n' + config(), "vocab_size: a setting outside any table; it belongs in the [model] table"),
    (config().replace("max_seq_len = 64", "max_seq_len = 8"),
     "train.seq_len: 16 tokens per window feed 15 tokens to the model, more than model.max_seq_len = 8"),
    (config().replace("seq_len = 16\n", "").replace("max_seq_len = 64", "max_seq_len = 64"),
     "train.seq_len: 128 (the default) tokens per window feed 127 tokens to the model, more than model.max_seq_len = 64"),
    ("", "the file is empty"),
    ("[modle]\nvocab_size = 4\n", "[modle]: unknown table (did you mean [model]?)"),
    (config().replace('attention = "cummean"', 'attention = {name = "cummean", window = 0}'),
     "model.attention.window: Input should be greater than 0"),
])
def test_validate_and_train_refuse_the_same_configs(files, text, expected):
    (files / "bad.toml").write_text(text)
    checked = invoke("validate", files / "bad.toml")
    trained = invoke("train", files / "bad.toml", "--data", files / "text.txt", "--out", files / "o")
    for result in (checked, trained):
        assert result.exit_code == 2 and expected in result.output, result.output
        assert "{{" not in result.output and "Ref" not in result.output
    assert not (files / "o").exists()


def test_a_validation_split_shorter_than_one_window_is_found_before_step_one(files):
    (files / "short.txt").write_text("the quick brown fox jumps over the lazy dog. " * 3)
    result = invoke("train", files / "run.toml", "--data", files / "short.txt", "--out", files / "o")
    assert result.exit_code == 2 and "the validation split has 14 tokens" in result.output
    assert not (files / "o").exists()


# -- §4 every user error is a FastSNN error, exit 2, naming where ------------------------------------
def test_a_config_that_is_not_utf8_is_named(files):
    (files / "latin1.toml").write_bytes("# café\n[model]\nvocab_size = 40\n".encode("latin-1"))
    for result in (invoke("validate", files / "latin1.toml"),
                   invoke("train", files / "latin1.toml", "--data", files / "text.txt")):
        assert result.exit_code == 2 and "latin1.toml: not UTF-8 text" in result.output


def test_out_under_a_regular_file_is_refused_before_any_work(files):
    (files / "plain").write_text("x")
    result = invoke("train", files / "run.toml", "--data", files / "missing.txt", "--out", files / "plain" / "x")
    assert result.exit_code == 2 and "is a file, not a folder" in result.output  # before the data is even read
    assert train(files).exit_code == 0
    result = invoke("export", files / "run", "--out", files / "plain" / "x")
    assert result.exit_code == 2 and "is a file, not a folder" in result.output


def test_a_bad_trainer_state_json_is_named_as_such(files):
    assert train(files).exit_code == 0
    (files / "run" / "step_00000004" / "trainer_state.json").write_text("{oops")
    result = train(files, "--resume", "--max-steps", "6")
    assert result.exit_code == 2 and "trainer_state.json:1: invalid JSON" in result.output


def test_sigkill_during_training_then_resume_is_exact(files):
    """A real process killed mid-run: the last checkpoint is intact and --resume continues from it."""
    (files / "long.toml").write_text(config(steps=400))
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from fastsnn.cli.main import main
        from fastsnn.testing import use_plugins
        from toy_plugins import make_plugin
        with use_plugins(make_plugin()):
            main(sys.argv[1:])
    """)
    args = [sys.executable, "-c", script, "train", str(files / "long.toml"), "--data", str(files / "text.txt"),
            "--out", str(files / "run")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "step 21 |" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    latest = (files / "run" / "latest").read_text()
    assert latest.startswith("step_") and int(latest[5:]) >= 20
    done = subprocess.run([*args, "--resume", "--max-steps", str(int(latest[5:]) + 2)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
