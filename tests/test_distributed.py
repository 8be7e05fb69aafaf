"""``fastsnn train`` under ``torchrun`` on CPU (gloo): DDP matches one process, FSDP resumes exactly,
a world size that does not divide the batch is refused, and a rank that dies stops the run with
the last checkpoint intact.

Tolerance: after 4 AdamW steps the weights of the 2-process runs equal the 1-process run's to
1e-6 (absolute; measured ≈ 1e-8 for DDP and 6e-8 for FSDP: only the order of the gradient
reduction differs), and the logged losses to a relative 1e-6.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
CONFIG = """
[model]
vocab_size = 256
d_model = 32
n_layers = 2
n_heads = 2
d_ff = 64
max_seq_len = 64
attention = "hybrid_alt"
neuron = {{ name = "adaptive_threshold", k = 3.0, signed = false }}

[train]
max_steps = 4
batch_size = {batch}
seq_len = 33
log_every = 1
checkpoint_every = 2
eval_batches = 2
distributed = "{mode}"
"""
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 200)


def env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "FASTSNN_LOAD_PLUGINS": "fastsnn-neurons,fastsnn-attention", "OMP_NUM_THREADS": "1",
            "FASTSNN_CACHE": str(tmp / "cache"), "PYTHONUNBUFFERED": "1"}


def run(cmd: list[str], tmp: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=tmp, env=env(tmp), capture_output=True, text=True, timeout=timeout)


def train_cmd(config: str, out: str, *extra: str) -> list[str]:
    return ["-m", "fastsnn", "train", config, "--data", "text.txt", "--out", out, "--no-progress", *extra]


def weights(path: Path) -> dict:
    return load_file(path / "model.safetensors")


def max_difference(a: dict, b: dict) -> float:
    assert sorted(a) == sorted(b)
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def losses(run_dir: Path) -> list[float]:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in lines if r["kind"] == "train"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    (tmp / "text.txt").write_text(TEXT)
    for mode in ("ddp", "fsdp", "none"):
        (tmp / f"{mode}.toml").write_text(CONFIG.format(batch=4, mode=mode))
    (tmp / "odd.toml").write_text(CONFIG.format(batch=3, mode="ddp"))
    single = run([sys.executable, *train_cmd("none.toml", "single")], tmp)
    assert single.returncode == 0, single.stdout + single.stderr
    return tmp


def test_ddp_on_two_processes_matches_one_process(workdir):
    done = run([*TORCHRUN, *train_cmd("ddp.toml", "ddp")], workdir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 processes (ddp)" in done.stdout
    assert done.stdout.count("validation: loss") == 1  # rank 0 alone reports
    assert max_difference(weights(workdir / "ddp" / "step_00000004"), weights(workdir / "single" / "step_00000004")) < 1e-6
    assert losses(workdir / "ddp") == pytest.approx(losses(workdir / "single"), rel=1e-6)


def test_fsdp_resumes_a_single_process_checkpoint_exactly(workdir):
    half = workdir / "half"
    shutil.copytree(workdir / "single", half)
    shutil.rmtree(half / "step_00000004")
    (half / "latest").write_text("step_00000002")
    done = run([*TORCHRUN, *train_cmd("fsdp.toml", "half", "--resume")], workdir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 processes (fsdp)" in done.stdout and "resumed from" in done.stdout
    assert max_difference(weights(half / "step_00000004"), weights(workdir / "single" / "step_00000004")) < 1e-6
    assert losses(half) == pytest.approx(losses(workdir / "single"), rel=1e-6)


def test_a_world_size_that_does_not_divide_the_batch_is_refused(workdir):
    done = run([*TORCHRUN, *train_cmd("odd.toml", "odd")], workdir)
    assert done.returncode != 0
    assert ("train.batch_size = 3 (the global batch) does not divide among 2 process(es) × grad_accum_steps = 1; "
            "use a multiple of 2") in done.stderr
    assert not (workdir / "odd").exists()


DYING = textwrap.dedent("""
    import os
    from fastsnn.config import ModelConfig
    from fastsnn.data.corpus import prepare_corpus
    from fastsnn.model import build_model
    from fastsnn.train import TrainConfig, Trainer

    corpus = prepare_corpus("text.txt", "byte")
    model = build_model(ModelConfig(vocab_size=256, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_seq_len=64), seed=0)
    trainer = Trainer(model, TrainConfig(max_steps=6, batch_size=4, seq_len=33, checkpoint_dir="dying",
                                         checkpoint_every=2, log_every=1), callbacks=[])
    rank = int(os.environ["RANK"])
    original = trainer._train_step

    def step(ids, logging):
        if rank == 1 and trainer.step == 2:
            os._exit(17)  # dies without a word, as a killed or crashed process does
        return original(ids, logging)

    trainer._train_step = step
    trainer.fit(corpus.random_windows("train", 4, 33, seed=0, rank=rank, world_size=2))
""")


def test_a_rank_that_dies_stops_the_others_and_the_last_checkpoint_is_intact(workdir):
    from fastsnn.train.checkpoints import read_checkpoint

    (workdir / "dying.py").write_text(DYING)
    done = run([*TORCHRUN, "dying.py"], workdir)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "exitcode  : 17" in output  # torchrun names the process that died
    assert ("rank 0: lost contact with the other processes at step 3" in output
            or "rank 0: stopped by the launcher" in output or "exitcode  : -15" in output)
    step_dir, meta, _, _ = read_checkpoint(workdir / "dying")  # verified: checksums, names, shapes
    assert step_dir.name == "step_00000002" and meta["step"] == 2 and meta["world_size"] == 2
