"""``fastsnn train`` / ``generate`` / ``export`` end to end on a small text, with toy components."""

import pytest
import torch
from click.testing import CliRunner

from fastsnn import from_pretrained
from fastsnn.cli.main import cli
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin

TEXT = "the quick brown fox jumps over the lazy dog. " * 60

CONFIG = """
[model]
vocab_size = {vocab}
d_model = 16
n_layers = 2
n_heads = 2
max_seq_len = 64
attention = "cummean"
neuron = "half"

[data]
tokenizer = "char"

[train]
max_steps = 3
batch_size = 4
seq_len = 16
log_every = 1
lr = 0.01
"""


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


@pytest.fixture
def files(tmp_path):
    (tmp_path / "text.txt").write_text(TEXT)
    (tmp_path / "run.toml").write_text(CONFIG.format(vocab=40))
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_train_generate_export_round_trip(files):
    ckpt = files / "ckpt"
    result = invoke("train", files / "run.toml", "--data", files / "text.txt", "--out", ckpt)
    assert result.exit_code == 0, result.output
    assert "step 3 | loss" in result.output and "validation: loss" in result.output
    assert (ckpt / "latest").is_file() and (ckpt / "tokenizer.json").is_file()

    result = invoke("generate", ckpt, "--prompt", "the quick", "--max-new-tokens", "5", "--temperature", "0")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("the quick") and len(result.output.rstrip("\n")) == len("the quick") + 5

    result = invoke("export", ckpt, "--out", files / "exported")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (files / "exported").iterdir())
    assert names == ["config.json", "model.safetensors", "tokenizer.json"]
    trained = from_pretrained(ckpt)
    exported = from_pretrained(files / "exported")
    ids = torch.randint(0, 20, (1, 12))
    assert torch.equal(trained(ids), exported(ids))


def test_resume_continues_from_the_latest_checkpoint(files):
    ckpt = files / "ckpt"
    assert invoke("train", files / "run.toml", "--data", files / "text.txt", "--out", ckpt).exit_code == 0
    result = invoke("train", files / "run.toml", "--data", files / "text.txt", "--out", ckpt, "--resume",
                    "--max-steps", "5")
    assert result.exit_code == 0, result.output
    assert "resumed from" in result.output and "step 5 | loss" in result.output and "step 1 |" not in result.output


def test_train_bad_inputs_exit_2(files):
    (files / "small.toml").write_text(CONFIG.format(vocab=5))
    result = invoke("train", files / "small.toml", "--data", files / "text.txt", "--out", files / "o")
    assert result.exit_code == 2 and "model.vocab_size is 5" in result.output and "raise model.vocab_size" in result.output
    result = invoke("train", files / "run.toml", "--data", files / "text.txt", "--out", files / "o2", "--resume")
    assert result.exit_code == 2 and "no checkpoint in" in result.output
    result = invoke("train", files / "run.toml", "--data", files / "missing.txt")
    assert result.exit_code == 2 and "missing.txt not found" in result.output
    (files / "notrain.toml").write_text("[train]\nmax_steps = 2\n")
    result = invoke("train", files / "notrain.toml", "--data", files / "text.txt")
    assert result.exit_code == 2 and "this command needs a [model] table" in result.output


def test_generate_and_export_bad_inputs_exit_2(files):
    result = invoke("generate", files / "nope", "--prompt", "x")
    assert result.exit_code == 2 and "not found" in result.output
    ckpt = files / "ckpt"
    assert invoke("train", files / "run.toml", "--data", files / "text.txt", "--out", ckpt).exit_code == 0
    result = invoke("generate", ckpt, "--prompt", "QZ")
    assert result.exit_code == 2 and "not in the tokenizer's vocabulary" in result.output
    result = invoke("export", ckpt, "--out", files / "e", "--exporter", "safetensor")
    assert result.exit_code == 2 and "did you mean 'safetensors'" in result.output
