"""Every ```python block of the seed README runs as written, with the first-party packages installed.

The README is ``../shared/seed-readme.md`` (beside the repository). The blocks run in order, each in
a fresh namespace, with the plugins discovered through their real entry points (restricted to the
first-party distributions, so nothing else installed can interfere).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import torch

from fastsnn.testing import use_plugins

REPO = Path(__file__).resolve().parents[1]
SEED_README = REPO.parent / "shared" / "seed-readme.md"
FIRST_PARTY = "fastsnn-neurons,fastsnn-attention,fastsnn-convert"


def python_blocks(markdown: str) -> list[str]:
    """The code of every fenced ```python block (indented fences, as in lists, included)."""
    pattern = re.compile(r"^([ \t]*)```python[ \t]*\n(.*?)^\1```", re.S | re.M)
    return [textwrap.dedent(match.group(2)) for match in pattern.finditer(markdown)]


@pytest.fixture(scope="module")
def blocks() -> list[str]:
    if not SEED_README.is_file():
        pytest.skip(f"{SEED_README} is not here (it lives in the shared folder beside the repository)")
    return python_blocks(SEED_README.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _first_party_plugins(monkeypatch):
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", FIRST_PARTY)
    with use_plugins(entry_points=True) as manager:
        loaded = {p.distribution for p in manager.plugins.values() if not p.builtin}
        assert loaded == set(FIRST_PARTY.split(",")), f"first-party plugins not all installed: {loaded}"
        yield


def run_block(code: str, index: int) -> dict:
    namespace: dict = {"__name__": f"seed_block_{index}"}
    exec(compile(code, f"seed-readme.md block {index}", "exec"), namespace)
    return namespace


def test_the_extractor_finds_indented_and_plain_blocks():
    text = "intro\n  ```python\n  a = 1\n  ```\n\n```python\nb = 2\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == ["a = 1\n", "b = 2\n"]


def test_the_readme_has_the_three_promised_blocks(blocks):
    assert len(blocks) == 3
    assert "convert_ann_to_snn" in blocks[0] and "build_model_from_config" in blocks[1] and "Trainer" in blocks[2]


def test_every_block_runs_as_written(blocks, capsys):
    torch.manual_seed(0)
    for index, code in enumerate(blocks):
        run_block(code, index)
    assert "step 10 | loss" in capsys.readouterr().out


def test_conversion_block_gives_a_spiking_copy_with_matching_shapes(blocks):
    ns = run_block(blocks[0], 0)
    ann, snn = ns["ann"], ns["snn"]
    names = {type(m).__name__ for m in snn.modules()}
    assert {"SpikingActivation", "TemporalLinear"} <= names and "ReLU" in {type(m).__name__ for m in ann.modules()}
    for shape in [(4, 128), (2, 16, 128)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            assert snn(x).shape == ann(x).shape == (*shape[:-1], 10)
    neuron = next(m for m in snn.modules() if type(m).__name__ == "SpikingActivation").neuron
    assert type(neuron).__name__ == "AdaptiveThresholdNeuron"


def test_programmatic_block_builds_a_hybrid_spiking_lm(blocks):
    ns = run_block(blocks[1], 1)
    assert ns["logits"].shape == (2, 63, 2000)
    assert [ref.name for ref in ns["model"].layer_attention] == ["linear", "swa"]


def test_training_block_logs_every_two_steps(blocks, capsys):
    ns = run_block(blocks[2], 2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert [int(line.split()[1]) for line in lines] == [2, 4, 6, 8, 10]
    assert ns["trainer"].step == 10


def test_the_oneclick_promise_through_the_cli():
    """The seed's ``python oneclick.py`` is ``fastsnn demo``: forward pass, 10 training steps, conversion."""
    from click.testing import CliRunner

    from fastsnn.cli.main import cli

    result = CliRunner().invoke(cli, ["demo", "--steps", "10"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "logits (2, 64, 256)" in out
    assert sum(line.startswith("step ") for line in out.splitlines()) == 10
    assert "shapes match: True" in out
