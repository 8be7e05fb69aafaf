"""``fastsnn demo`` shows a newcomer something learned: the alphabet task, before and after training.

The demo trains its byte-level spiking LM for 30 steps to continue the alphabet (``z`` wraps to
``a``) and greedily continues every five-letter run (``"abcde"`` … ``"zabcd"``) before and after.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from click.testing import CliRunner

from fastsnn.cli.demo import alphabet_batches, alphabet_prompts, show
from fastsnn.cli.main import cli
from fastsnn.testing import use_plugins

FIRST_PARTY = "fastsnn-neurons,fastsnn-attention,fastsnn-convert"


@pytest.fixture(autouse=True)
def _first_party_plugins(monkeypatch):
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", FIRST_PARTY)
    with use_plugins(entry_points=True):
        yield


def test_the_task_data():
    batch = next(alphabet_batches(3, 30, 1, seed=0))
    assert batch.shape == (3, 30) and batch.dtype == torch.int64
    for row in batch.tolist():  # each row counts up through a..z and wraps
        assert all((b - a) % 26 == 1 for a, b in itertools.pairwise(row)) and set(row) <= set(range(97, 123))
    prompts, answers = alphabet_prompts()
    assert prompts.shape == (26, 5) and answers.shape == (26, 8)
    assert show(prompts[0]) == '"abcde"' and show(answers[0]) == '"fghijklm"'
    assert show(prompts[23]) == '"xyzab"' and show(answers[23]) == '"cdefghij"'
    assert show(torch.tensor([104, 0, 200, 105])) == '"h··i"'


def test_the_demo_ends_with_the_learned_continuations():
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "[2/4] training 30 steps (AdamW) to continue the alphabet" in lines
    before = next(line for line in lines if line.startswith("  before training:"))
    assert before.startswith('  before training: "abcde" -> "') and '"fghijklm"' not in before
    assert sum(line.startswith("step ") for line in lines) == 10  # every third of 30 steps
    tail = lines[lines.index("[4/4] greedy decoding from the cache, after training"):]
    assert tail[1:5] == [
        '  "abcde" -> "fghijklm"   right',
        '  "klmno" -> "pqrstuvw"   right',
        '  "xyzab" -> "cdefghij"   right',
        "  learned: 26 of 26 prompts continued right (before training: 0 of 26)",
    ]
    assert tail[-1].startswith("done in ")


def test_too_few_steps_leave_the_task_unlearned_and_the_demo_says_so():
    result = CliRunner().invoke(cli, ["demo", "--steps", "3"])
    assert result.exit_code == 0, result.output
    learned = next(line for line in result.output.splitlines() if line.startswith("  learned: "))
    right = int(learned.split()[1])
    assert right < 26 and learned.endswith("(before training: 0 of 26)")
