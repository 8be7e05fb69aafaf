"""Every ``fastsnn ...`` command of the root README runs as written, in order, from a fresh checkout.

The commands are taken from the README's ```bash blocks (each line split at ``&&``, ``#`` comments
dropped), so a command added to or changed in the README is run here without editing this file.
They run as subprocesses of the installed ``fastsnn`` script, in a temporary folder holding a copy
of the repository's ``examples/`` (the config and the tiny-shakespeare text they name), so the run
folders, exports and scaffolded plugin land there and nothing outside the repository is read.

Two kinds of command are shortened, and only in these ways (``shorten`` below), because as written
they take minutes: the README's own figures are for full runs, and the suite must stay fast.

- ``fastsnn train``: the config trains 300 steps (about 4 minutes on 2 cores). A first run gets
  ``--max-steps 2``; a ``--resume --max-steps N`` gets N = 4, so it still continues past the first.
- ``fastsnn bench``: a benchmark times every case 30 times at full size; it gets ``--set`` overrides
  for one small round (its table is the same shape).

Commands that are not ``fastsnn`` (the venv + pip set-up line, ``nox``) are not run here: CI runs
nox itself, and the set-up line is what a user runs once on a fresh machine.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BENCH_SMALL = ["--set", "repeats=1", "--set", "warmup=0", "--set", "batch=2", "--set", "features=64",
               "--set", "coding_values=1000"]


def bash_commands(markdown: str) -> list[list[str]]:
    """Every ``fastsnn ...`` command (argv) of the ```bash blocks, in order; ``a && b`` gives both."""
    commands = []
    for block in re.findall(r"^```bash[ \t]*\n(.*?)^```", markdown, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                argv = shlex.split(part, comments=True)
                if argv and argv[0] == "fastsnn":
                    commands.append(argv)
    return commands


def shorten(argv: list[str], trained: set[str]) -> list[str]:
    """The command to run: ``argv`` itself, or the short form the module docstring describes."""
    if argv[1:2] == ["train"]:
        out = argv[argv.index("--out") + 1]
        if "--resume" in argv:
            assert out in trained, f"{shlex.join(argv)} resumes a run no earlier README command trained"
            argv = [*argv]
            argv[argv.index("--max-steps") + 1] = "4"
            return argv
        trained.add(out)
        return [*argv, "--max-steps", "2"]
    if argv[1:2] == ["bench"]:
        return [*argv, *BENCH_SMALL]
    return argv


def fastsnn_command() -> list[str]:
    script = Path(sys.executable).with_name("fastsnn")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "fastsnn"]


def test_the_extractor_splits_chains_and_drops_comments():
    text = ("```bash\npython3 -m venv .venv && pip install x && fastsnn demo\n"
            "fastsnn list attention   # what is registered\n"
            "fastsnn generate r --prompt \"ROMEO: # not a comment\"\n```\n"
            "```python\nfastsnn = 1\n```\n")
    assert bash_commands(text) == [["fastsnn", "demo"], ["fastsnn", "list", "attention"],
                                   ["fastsnn", "generate", "r", "--prompt", "ROMEO: # not a comment"]]


def test_the_readme_names_only_files_that_ship():
    commands = bash_commands(README.read_text(encoding="utf-8"))
    assert len(commands) >= 12
    named = {arg for argv in commands for arg in argv if arg.startswith("examples/")}
    assert named == {"examples/tinyshakespeare.toml", "examples/flagship.toml", "examples/data/tinyshakespeare.txt"}
    for name in named:
        assert (REPO / name).is_file(), f"the README names {name}, which is not in the repository"


def test_shorten_only_touches_train_and_bench():
    trained: set[str] = set()
    first = ["fastsnn", "train", "c.toml", "--data", "t.txt", "--out", "runs/x"]
    assert shorten(first, trained) == [*first, "--max-steps", "2"]
    assert shorten([*first, "--resume", "--max-steps", "400"], trained) == [*first, "--resume", "--max-steps", "4"]
    assert shorten(["fastsnn", "bench", "neurons"], trained) == ["fastsnn", "bench", "neurons", *BENCH_SMALL]
    assert shorten(["fastsnn", "demo"], trained) == ["fastsnn", "demo"]


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path):
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the suite runs two tests at a time on 2 cores
    trained: set[str] = set()
    outputs = {}
    for argv in bash_commands(README.read_text(encoding="utf-8")):
        run = shorten(argv, trained)
        result = subprocess.run([*fastsnn_command(), *run[1:]], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, f"{shlex.join(run)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        outputs[shlex.join(argv)] = result.stdout

    def output_of(prefix: str) -> str:
        return next(out for command, out in outputs.items() if command.startswith(prefix))

    assert "learned: 26 of 26 prompts continued right" in output_of("fastsnn demo")
    assert output_of("fastsnn generate runs/demo").startswith("ROMEO:")
    assert output_of("fastsnn generate runs/shakespeare").startswith("ROMEO:")
    assert "resumed from" in output_of("fastsnn train examples/tinyshakespeare.toml --data "
                                       "examples/data/tinyshakespeare.txt --out runs/demo --resume")
    assert sorted(p.name for p in (tmp_path / "exported").iterdir()) == ["config.json", "model.safetensors",
                                                                          "tokenizer.json"]
    assert (tmp_path / "fastsnn-mything" / "pyproject.toml").is_file()  # the scaffolded plugin package
    assert "adaptive_threshold" in output_of("fastsnn info neuron adaptive_threshold")
