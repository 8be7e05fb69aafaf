"""``fastsnn train`` on corpora (tokenizer choice, folders, globs, the run identity's data settings,
metrics.jsonl) and ``fastsnn eval`` (loss, perplexity, bits per byte, unknown characters, spikes)."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

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
neuron = {{ name = "half", threshold = 0.01 }}
{data}
[train]
max_steps = 2
batch_size = 4
seq_len = 16
log_every = 1
lr = 0.01
"""


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def write_config(path, vocab=256, data=""):
    path.write_text(CONFIG.format(vocab=vocab, data=data))
    return path


def test_the_default_tokenizer_is_byte_and_the_data_settings_are_part_of_the_run(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    cfg = write_config(tmp_path / "run.toml")
    result = invoke("train", cfg, "--data", tmp_path / "t.txt", "--out", tmp_path / "run", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "byte tokenizer, vocab 256" in result.output
    assert json.loads((tmp_path / "run" / "tokenizer.json").read_text()) == {"kind": "byte", "chars": None}
    identity = json.loads((tmp_path / "run" / "run.json").read_text())
    assert identity["dataset"] == {"tokenizer": "byte", "bpe_vocab_size": 1024, "val_fraction": 0.1}
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(m["kind"], m["step"]) for m in metrics] == [("train", 1), ("train", 2), ("checkpoint", 2)]
    assert set(metrics[0]["spikes"]) == {"blocks.0.ffn.neuron", "blocks.1.ffn.neuron"}

    write_config(cfg, data="[data]\nval_fraction = 0.2\n")
    result = invoke("train", cfg, "--data", tmp_path / "t.txt", "--out", tmp_path / "run", "--resume",
                    "--max-steps", "3")
    assert result.exit_code == 2
    assert "dataset.val_fraction: 0.1 in the run, 0.2 now" in result.output
    assert "--allow-change dataset.val_fraction" in result.output


def test_the_tokenizer_flag_and_the_data_table(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    cfg = write_config(tmp_path / "run.toml", vocab=40, data='[data]\ntokenizer = "char"\n')
    result = invoke("train", cfg, "--data", tmp_path / "t.txt", "--out", tmp_path / "a")
    assert result.exit_code == 0 and "char tokenizer, vocab 28" in result.output
    result = invoke("train", cfg, "--data", tmp_path / "t.txt", "--out", tmp_path / "b", "--tokenizer", "byte")
    assert result.exit_code == 2
    assert ('model.vocab_size is 40 but the byte tokenizer of' in result.output and 'needs 256; raise '
            'model.vocab_size (or set [data] tokenizer = "char")' in result.output)
    assert not (tmp_path / "b").exists()  # nothing written
    result = invoke("train", cfg, "--data", tmp_path / "t.txt", "--out", tmp_path / "a", "--resume",
                    "--tokenizer", "byte", "--max-steps", "3")
    assert result.exit_code == 2 and "uses the char tokenizer, not byte; pass --tokenizer char" in result.output


def test_train_reads_a_folder_and_a_glob(tmp_path):
    (tmp_path / "books").mkdir()
    for i in range(3):
        (tmp_path / "books" / f"{i}.txt").write_text(TEXT)
    (tmp_path / "books" / "cover.jpg").write_bytes(b"\xff\xd8\x00\x00")
    cfg = write_config(tmp_path / "run.toml")
    result = invoke("train", cfg, "--data", tmp_path / "books", "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    assert "skipped 1 binary file(s)" in result.output and f"{int(3 * len(TEXT) * 0.9):,} train" in result.output
    result = invoke("train", cfg, "--data", f"{tmp_path}/books/*.txt", "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    (tmp_path / "none").mkdir()
    result = invoke("train", cfg, "--data", tmp_path / "none", "--out", tmp_path / "c")
    assert result.exit_code == 2 and "has no text files" in result.output


def test_eval_reports_loss_perplexity_bits_per_byte_unknown_characters_and_spikes(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    cfg = write_config(tmp_path / "run.toml", vocab=40, data='[data]\ntokenizer = "char"\n')
    assert invoke("train", cfg, "--data", tmp_path / "t.txt", "--out", tmp_path / "run").exit_code == 0
    (tmp_path / "other.txt").write_text("the lazy dog jumps. THE END! " * 10)  # T, H, E, N, D, ! are unknown
    result = invoke("eval", tmp_path / "run", "--data", tmp_path / "other.txt", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["unknown"] == {"E": 20, "T": 10, "H": 10, "N": 10, "D": 10, "!": 10}
    assert report["unknown_characters"] == 70
    assert report["tokens"] == len("the lazy dog jumps.   " * 10) - 1  # every known character but the first
    assert report["perplexity"] == pytest.approx(math.exp(report["loss"]))
    assert report["bits_per_byte"] == pytest.approx(report["loss"] / math.log(2))  # one byte per character
    assert report["seq_len"] == 16 and set(report["spikes"]) == {"blocks.0.ffn.neuron", "blocks.1.ffn.neuron"}
    text = invoke("eval", tmp_path / "run", "--data", tmp_path / "other.txt").output
    assert "unknown characters: 70 of 290 (24.14%) are not in the run's vocabulary and were not scored: 'E' ×20" in text
    assert "bits/byte" in text and "blocks.0.ffn.neuron:" in text


def test_eval_bad_inputs(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    cfg = write_config(tmp_path / "run.toml", vocab=40, data='[data]\ntokenizer = "char"\n')
    assert invoke("train", cfg, "--data", tmp_path / "t.txt", "--out", tmp_path / "run").exit_code == 0
    result = invoke("eval", tmp_path / "run", "--data", tmp_path / "missing.txt")
    assert result.exit_code == 2 and "missing.txt not found" in result.output
    (tmp_path / "bin").write_bytes(b"ab\x00c")
    result = invoke("eval", tmp_path / "run", "--data", tmp_path / "bin")
    assert result.exit_code == 2 and "binary data (a NUL byte at byte 2); the char tokenizer reads text only" in result.output
    (tmp_path / "alien.txt").write_text("ZZZZ")
    result = invoke("eval", tmp_path / "run", "--data", tmp_path / "alien.txt")
    assert result.exit_code == 2 and "no token is left: all 4 characters are outside the tokenizer's vocabulary ('Z')" in result.output
    result = invoke("eval", tmp_path / "nowhere", "--data", tmp_path / "t.txt")
    assert result.exit_code == 2 and "not found" in result.output
