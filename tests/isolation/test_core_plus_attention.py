"""Run by ``nox -s isolation`` in an environment holding only fastsnn-core and fastsnn-attention.

Checks that discovery works with exactly those two distributions and that a config naming a
component from a package that is not installed fails with a message naming that package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("FASTSNN_ISOLATION_TEST") != "1",
    reason="only meaningful in the isolation nox session (core + attention installed alone)",
)


def cli(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTSNN_")}
    return subprocess.run([sys.executable, "-m", "fastsnn", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_only_core_and_attention_are_installed():
    from importlib.metadata import PackageNotFoundError, distribution

    for dist in ("fastsnn-core", "fastsnn-attention"):
        distribution(dist)
    for dist in ("fastsnn-neurons", "fastsnn-convert", "fastsnn-example"):
        with pytest.raises(PackageNotFoundError):
            distribution(dist)


def test_list_shows_exactly_those_distributions():
    result = cli("list", "--json")
    assert result.returncode == 0, result.stderr
    dists = {c["distribution"] for c in json.loads(result.stdout)}
    assert dists == {"fastsnn-core", "fastsnn-attention"}
    plugins = json.loads(cli("plugins", "--json").stdout)
    assert all(p["status"] == "ok" for p in plugins)
    assert {p["distribution"] for p in plugins} == {"fastsnn-core", "fastsnn-attention"}


def test_config_naming_a_neuron_says_to_install_fastsnn_neurons(tmp_path):
    config = tmp_path / "model.toml"
    config.write_text(textwrap.dedent("""
        [model]
        vocab_size = 100
        attention = "hybrid_alt"
        neuron = "adaptive_threshold"
    """))
    result = cli("validate", str(config))
    assert result.returncode == 2
    assert "unknown neuron 'adaptive_threshold'" in result.stderr
    assert "pip install fastsnn-neurons" in result.stderr
    assert "Traceback" not in result.stderr


def test_attention_components_work_without_the_other_packages():
    import torch

    import fastsnn

    attn = fastsnn.create("attention", "swa", d_model=16, n_heads=2, window=4)
    assert attn(torch.randn(1, 5, 16)).shape == (1, 5, 16)


def test_a_non_spiking_model_trains_with_neuron_none(tmp_path):
    """``neuron = "none"``: the minimal install builds, trains and generates from a model of its own."""
    config = tmp_path / "model.toml"
    config.write_text(textwrap.dedent("""
        [model]
        vocab_size = 256
        d_model = 32
        n_layers = 2
        n_heads = 2
        attention = "hybrid_alt"
        ffn = "swiglu"
        neuron = "none"

        [train]
        max_steps = 2
        batch_size = 2
        seq_len = 16
    """))
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    assert cli("validate", str(config)).returncode == 0
    trained = cli("train", str(config), "--data", str(text), "--out", str(tmp_path / "run"))
    assert trained.returncode == 0, trained.stderr
    generated = cli("generate", str(tmp_path / "run"), "--prompt", "the", "--max-new-tokens", "5")
    assert generated.returncode == 0, generated.stderr
