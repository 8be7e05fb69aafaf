"""CI-sized version of the flagship study (BENCHMARKS.md, "Closing the gap"): ``fastsnn train`` on
tiny-shakespeare must bring the validation loss well below the unigram entropy of the text — a model
that only learned character frequencies cannot go below it — in about half a minute on one core.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fastsnn.cli.main import cli
from fastsnn.data.corpus import prepare_corpus
from fastsnn.testing import use_plugins

pytestmark = pytest.mark.slow

TEXT = Path(__file__).resolve().parents[1] / "examples" / "data" / "tinyshakespeare.txt"
CONFIG = """
[model]
vocab_size = 65
d_model = 64
n_layers = 2
n_heads = 4
d_ff = 192
max_seq_len = 128
{model}

[data]
tokenizer = "char"

[train]
max_steps = 200
lr = 1e-2
warmup_steps = 10
min_lr_ratio = 0.1
weight_decay = 0.1
batch_size = 16
seq_len = 129
log_every = 50
eval_every = 200
eval_batches = 20
"""


def unigram_entropy(tokens: np.ndarray, vocab: int) -> float:
    """Nats per character of the best model that ignores context: −Σ p log p over the characters."""
    counts = np.bincount(np.asarray(tokens), minlength=vocab).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


#: the issue's flagship shape (pulse, unsigned) and the study's winner (examples/flagship.toml)
SHAPES = {
    "pulse": ('attention = "hybrid_alt"\nffn = "pulse"\n'
              'neuron = { name = "adaptive_threshold", k = 3.0, signed = false }', (0.5, 0.95)),
    "gla_spiking_swiglu": ('attention = { name = "hybrid_alt", linear = "gla" }\n'
                           'ffn = { name = "swiglu", spiking = true }\n'
                           'neuron = { name = "adaptive_threshold", k = 3.0, signed = true }', (0.1, 0.6)),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_the_spiking_hybrid_learns_far_below_the_unigram_entropy(tmp_path, shape):
    if not TEXT.is_file():
        pytest.skip(f"{TEXT} is not here")
    model, (low, high) = SHAPES[shape]
    (tmp_path / "run.toml").write_text(CONFIG.replace("{model}", model))
    with use_plugins(entry_points=True):
        result = CliRunner().invoke(cli, ["train", str(tmp_path / "run.toml"), "--data", str(TEXT),
                                          "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    corpus = prepare_corpus(TEXT, "char")
    entropy = unigram_entropy(corpus.train, corpus.tokenizer.vocab_size)
    assert entropy == pytest.approx(3.309, abs=0.001)  # nats/char of tiny-shakespeare's training split
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = next(r for r in records if r["kind"] == "eval")
    assert val["val_tokens"] == 20 * 16 * 128
    assert val["val_loss"] < entropy - 0.8, f"validation loss {val['val_loss']:.3f} vs unigram entropy {entropy:.3f}"
    assert val["val_bits_per_byte"] == pytest.approx(val["val_loss"] / math.log(2))  # ASCII: a byte per char
    spikes = [r for r in records if r["kind"] == "train"][-1]["spikes_mean"]
    assert spikes["firing_rate"] == pytest.approx(3.0, abs=0.05)  # adaptive threshold: k spikes per value
    assert low < spikes["sparsity"] < high, spikes  # signed SwiGLU counts are zero far less often
