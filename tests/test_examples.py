"""The example configs shipped in examples/ validate, and build a model that runs."""

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from fastsnn.cli.main import cli
from fastsnn.config import RunConfig, load_config
from fastsnn.model import build_model

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.toml"))


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_and_builds(path):
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    config = load_config(path, RunConfig).model.model_copy(update={"vocab_size": 97})  # keep the head small
    model = build_model(config)
    logits = model(torch.randint(0, 97, (1, 9)))
    assert logits.shape == (1, 9, 97) and torch.isfinite(logits).all()
