"""``fastsnn train CONFIG --init FOLDER``: continued training from a saved model folder (its weights,
config and tokenizer), and each way it refuses."""

from __future__ import annotations

import json

import torch
from click.testing import CliRunner

from fastsnn.cli.main import cli
from fastsnn.config.model import ModelConfig
from fastsnn.data.text import CharTokenizer
from fastsnn.model import build_model, from_pretrained
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin

TEXT = "the quick brown fox jumps over the lazy dog. " * 60
MODEL = dict(vocab_size=40, d_model=16, n_layers=2, n_heads=2, max_seq_len=64, attention="cummean",
             neuron={"name": "half", "threshold": 0.01})
TRAIN = """
[train]
max_steps = 2
batch_size = 4
seq_len = 16
log_every = 1
lr = {lr}
seed = 3
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def toml_model(values: dict) -> str:
    """A [model] table (TOML) of ``values`` (the neuron as an inline table)."""
    lines = ["[model]"]
    for key, value in values.items():
        if isinstance(value, dict):
            value = "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
        else:
            value = json.dumps(value)
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def saved_model(tmp_path, tokenizer: bool = True):
    """A model folder (seed 11, not the config's seed 3) with the char tokenizer of TEXT."""
    model = build_model(ModelConfig(**MODEL), seed=11)
    tok = CharTokenizer.from_text(TEXT) if tokenizer else None
    return model.save_pretrained(tmp_path / "init", tokenizer=None if tok is None else tok.to_dict()), model


def test_init_starts_from_the_folder_weights_and_tokenizer(tmp_path):
    with use_plugins(make_plugin()):
        (tmp_path / "t.txt").write_text(TEXT)
        folder, model = saved_model(tmp_path)
        (tmp_path / "run.toml").write_text(TRAIN.format(lr="1e-9"))  # no [model]: the folder's
        result = invoke("train", tmp_path / "run.toml", "--init", folder, "--data", tmp_path / "t.txt",
                        "--out", tmp_path / "run", "--no-progress")
        assert result.exit_code == 0, result.output
        assert f"weights from {folder}" in result.output
        assert "char tokenizer, vocab 28" in result.output  # the folder's tokenizer, not the byte default
        assert json.loads((tmp_path / "run" / "tokenizer.json").read_text()) == json.loads(
            (folder / "tokenizer.json").read_text())
        trained = from_pretrained(tmp_path / "run")
        fresh = build_model(ModelConfig(**MODEL), seed=3)  # what training without --init would start from
        for (name, a), b in zip(trained.state_dict().items(), model.state_dict().values()):
            assert torch.allclose(a, b, atol=1e-6), name  # lr 1e-9: still the folder's weights
        assert any(not torch.allclose(b, c) for b, c in zip(model.state_dict().values(), fresh.state_dict().values()))


def test_init_with_the_same_model_table_and_without_a_tokenizer(tmp_path):
    with use_plugins(make_plugin()):
        (tmp_path / "t.txt").write_text(TEXT)
        folder, _ = saved_model(tmp_path, tokenizer=False)
        model_table = toml_model(MODEL)
        (tmp_path / "run.toml").write_text(model_table + "\n[data]\ntokenizer = \"char\"\n" + TRAIN.format(lr="0.01"))
        result = invoke("train", tmp_path / "run.toml", "--init", folder, "--data", tmp_path / "t.txt",
                        "--out", tmp_path / "run", "--no-progress")
        assert result.exit_code == 0, result.output
        assert "char tokenizer" in result.output  # no tokenizer in the folder: [data] decides


def test_init_refusals_leave_no_run_folder(tmp_path):
    with use_plugins(make_plugin()):
        (tmp_path / "t.txt").write_text(TEXT)
        folder, _ = saved_model(tmp_path)
        cfg = tmp_path / "run.toml"
        cfg.write_text(TRAIN.format(lr="0.01"))
        # a tokenizer other than the folder's
        result = invoke("train", cfg, "--init", folder, "--data", tmp_path / "t.txt", "--out", tmp_path / "run",
                        "--tokenizer", "byte")
        assert result.exit_code != 0
        assert "comes with its char tokenizer" in result.output and "leave --tokenizer out" in result.output
        # a [model] table that is another model
        other = dict(MODEL, d_model=32)
        cfg.write_text(toml_model(other) + TRAIN.format(lr="0.01"))
        result = invoke("train", cfg, "--init", folder, "--data", tmp_path / "t.txt", "--out", tmp_path / "run")
        assert result.exit_code != 0
        assert "[model] differs from the model in --init" in result.output and "d_model" in result.output
        # nothing there / not a model folder
        cfg.write_text(TRAIN.format(lr="0.01"))
        result = invoke("train", cfg, "--init", tmp_path / "missing", "--data", tmp_path / "t.txt",
                        "--out", tmp_path / "run")
        assert result.exit_code != 0 and "missing not found" in result.output
        (tmp_path / "empty").mkdir()
        result = invoke("train", cfg, "--init", tmp_path / "empty", "--data", tmp_path / "t.txt",
                        "--out", tmp_path / "run")
        assert result.exit_code != 0 and "not a FastSNN model folder" in result.output
        # without --init a config with no [model] is still refused
        result = invoke("train", cfg, "--data", tmp_path / "t.txt", "--out", tmp_path / "run")
        assert result.exit_code != 0 and "needs a [model] table" in result.output
        assert not (tmp_path / "run").exists()


def test_teacher_distils_and_its_refusals(tmp_path):
    with use_plugins(make_plugin()):
        (tmp_path / "t.txt").write_text(TEXT)
        folder, _ = saved_model(tmp_path)  # the teacher: its char tokenizer, vocab 40
        cfg = tmp_path / "run.toml"
        cfg.write_text(TRAIN.format(lr="0.01") + "distill_weight = 0.5\ndistill_temperature = 2.0\n")
        result = invoke("train", cfg, "--init", folder, "--teacher", folder, "--data", tmp_path / "t.txt",
                        "--out", tmp_path / "run", "--no-progress")
        assert result.exit_code == 0, result.output
        assert f"distilling from {folder} (α 0.5, τ 2)" in result.output
        records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
        train_records = [r for r in records if r["kind"] == "train"]
        assert train_records and all(r["distill_kl"] >= 0 for r in train_records)
        assert train_records[0]["distill_kl"] < 1e-3  # the student starts as the teacher
        # refusals, before anything is written
        result = invoke("train", cfg, "--init", folder, "--data", tmp_path / "t.txt", "--out", tmp_path / "r2")
        assert result.exit_code != 0 and "distill_weight = 0.5 needs a teacher: pass --teacher" in result.output
        cfg.write_text(TRAIN.format(lr="0.01"))
        result = invoke("train", cfg, "--init", folder, "--teacher", folder, "--data", tmp_path / "t.txt",
                        "--out", tmp_path / "r2")
        assert result.exit_code != 0 and "needs [train] distill_weight > 0" in result.output
        other = build_model(ModelConfig(**dict(MODEL, vocab_size=48)), seed=1).save_pretrained(tmp_path / "other")
        cfg.write_text(TRAIN.format(lr="0.01") + "distill_weight = 0.5\n")
        result = invoke("train", cfg, "--init", folder, "--teacher", other, "--data", tmp_path / "t.txt",
                        "--out", tmp_path / "r2")
        assert result.exit_code != 0 and "has vocab_size 48, the model 40" in result.output
        assert not (tmp_path / "r2").exists()
