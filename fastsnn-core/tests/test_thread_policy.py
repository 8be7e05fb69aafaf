"""The CPU thread policy (fastsnn_runtime): its decisions, and that every entry point applies it
before torch loads OpenMP. No timings here; BENCHMARKS.md ("Thread policy") has the measurements."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from fastsnn.cli.main import cli
from fastsnn.errors import FastSNNError
from fastsnn_runtime import ThreadPolicy, apply_thread_policy, choose_threads, prepare_environment

CPUS = os.cpu_count() or 1
POLICY_VARS = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "FASTSNN_THREADS")

# -- decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threads", "environ", "default", "expected"),
    [
        (None, {}, None, (None, "torch default")),
        (None, {}, 1, (1, "default of the caller")),
        (None, {"OMP_NUM_THREADS": "3"}, 1, (None, "OMP_NUM_THREADS")),
        (None, {"FASTSNN_THREADS": "2", "OMP_NUM_THREADS": "3"}, 1, (2, "FASTSNN_THREADS")),
        (None, {"FASTSNN_THREADS": " 4 "}, None, (4, "FASTSNN_THREADS")),
        (None, {"FASTSNN_THREADS": "", "OMP_NUM_THREADS": ""}, None, (None, "torch default")),
        (3, {"FASTSNN_THREADS": "2", "OMP_NUM_THREADS": "1"}, 1, (3, "--threads")),
        (4, {}, None, (4, "--threads")),
    ],
)
def test_thread_count_comes_from_the_first_source_given(threads, environ, default, expected):
    assert choose_threads(threads, environ, default, cpus=4) == expected


@pytest.mark.parametrize("threads", [0, 5, -1, True])
def test_a_threads_argument_outside_1_to_cpus_is_refused(threads):
    with pytest.raises(FastSNNError) as err:
        choose_threads(threads, {}, cpus=4)
    assert str(err.value) == (
        f"--threads {threads!r}: expected a whole number of CPU threads from 1 to 4 (os.cpu_count() on this "
        "machine); e.g. --threads 1, or leave it out to use every CPU"
    )


@pytest.mark.parametrize("value", ["0", "5", "abc", "1.5", "-1", "+2"])
def test_a_bad_fastsnn_threads_variable_is_refused(value):
    with pytest.raises(FastSNNError) as err:
        choose_threads(None, {"FASTSNN_THREADS": value}, cpus=4)
    assert str(err.value) == (
        f"FASTSNN_THREADS={value!r}: expected a whole number of CPU threads from 1 to 4 (os.cpu_count() on "
        "this machine); e.g. FASTSNN_THREADS=1, or unset it to use every CPU"
    )


def test_the_cpu_limit_defaults_to_os_cpu_count():
    assert choose_threads(CPUS, {}) == (CPUS, "--threads")
    with pytest.raises(FastSNNError, match=f"from 1 to {CPUS} "):
        choose_threads(CPUS + 1, {})


def test_wait_policy_is_passive_unless_the_environment_sets_one():
    environ: dict[str, str] = {}
    assert prepare_environment(environ) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert prepare_environment(environ) == {}  # second call: already set

    explicit = {"OMP_WAIT_POLICY": "active"}
    assert prepare_environment(explicit) == {} and explicit == {"OMP_WAIT_POLICY": "active"}

    blank = {"OMP_WAIT_POLICY": " "}  # an empty value counts as unset
    assert prepare_environment(blank) == {"OMP_WAIT_POLICY": "PASSIVE"} and blank["OMP_WAIT_POLICY"] == "PASSIVE"


def test_policy_description():
    policy = ThreadPolicy(2, "--threads", "PASSIVE", "fastsnn default")
    assert str(policy) == "2 torch threads (--threads), OMP_WAIT_POLICY=PASSIVE (fastsnn default)"
    late = ThreadPolicy(1, "torch default", None, "torch started before the policy could set it, so OpenMP threads spin")
    assert str(late) == ("1 torch thread (torch default), OMP_WAIT_POLICY unset "
                         "(torch started before the policy could set it, so OpenMP threads spin)")


def test_after_torch_is_loaded_only_the_thread_count_changes():
    previous = torch.get_num_threads()
    try:
        policy = apply_thread_policy(1, environ={"OMP_WAIT_POLICY": "active"})
        assert policy == ThreadPolicy(1, "--threads", "active", "environment")
        assert torch.get_num_threads() == 1
        environ: dict[str, str] = {}
        late = apply_thread_policy(1, environ=environ)
        assert environ == {}  # torch already read its environment: setting it now would be a lie
        assert late.wait_policy is None and late.wait_policy_source.startswith("torch started before")
    finally:
        torch.set_num_threads(previous)


def test_this_test_process_runs_under_the_policy():
    """The root conftest applied the policy before anything imported torch (a plugin of pytest
    importing torch first would break this)."""
    assert os.environ.get("OMP_WAIT_POLICY")
    policy = apply_thread_policy(default_threads=1)
    assert policy.wait_policy == os.environ["OMP_WAIT_POLICY"]
    assert policy.wait_policy_source in ("fastsnn default", "environment")


def test_cli_threads_option_and_variable_in_process():
    previous = torch.get_num_threads()
    try:
        result = CliRunner().invoke(cli, ["--threads", "1", "plugins", "--json"])
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
        bad = CliRunner().invoke(cli, ["plugins", "--json"], env={"FASTSNN_THREADS": "abc"})
        assert bad.exit_code == 2
        assert f"Error: FASTSNN_THREADS='abc': expected a whole number of CPU threads from 1 to {CPUS} " in bad.output
    finally:
        torch.set_num_threads(previous)


# -- entry points, as subprocesses ----------------------------------------------------------

PROBE = '''
import atexit, importlib.abc, json, os, sys

def _write(**event):
    with open(os.environ["THREAD_PROBE_LOG"], "a") as f:
        f.write(json.dumps(event) + "\\n")

class _TorchImportProbe(importlib.abc.MetaPathFinder):
    """Records OMP_WAIT_POLICY at the moment torch (and with it OpenMP) is first imported."""
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            _write(event="import torch", OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY"))
        return None

sys.meta_path.insert(0, _TorchImportProbe())
atexit.register(lambda: "torch" in sys.modules and _write(event="exit", threads=sys.modules["torch"].get_num_threads()))
'''


def run_probed(tmp_path: Path, command: list[str], **env_extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run ``command`` with a sitecustomize that logs the environment at ``import torch``, and the
    torch thread count at exit; an exec'd restart logs again (atexit does not run across exec)."""
    probe = tmp_path / "probe"
    probe.mkdir(exist_ok=True)
    (probe / "sitecustomize.py").write_text(PROBE)
    log = tmp_path / "probe.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in POLICY_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(probe), env.get("PYTHONPATH", "")])
    env["THREAD_PROBE_LOG"] = str(log)
    env.update(env_extra)
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    events = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, events


def console_script() -> str:
    script = Path(sys.executable).with_name("fastsnn")
    if not script.exists():
        pytest.skip("the fastsnn console script is not installed next to this interpreter")
    return str(script)


def test_importing_the_policy_module_imports_neither_torch_nor_fastsnn():
    code = "import sys, fastsnn_runtime; print(sorted(m for m in ('torch', 'fastsnn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_console_script_sets_the_wait_policy_before_torch_is_imported(tmp_path):
    result, events = run_probed(tmp_path, [console_script(), "--threads", "1", "plugins", "--json"])
    assert result.returncode == 0, result.stderr
    assert events == [{"event": "import torch", "OMP_WAIT_POLICY": "PASSIVE"}, {"event": "exit", "threads": 1}]


def test_python_m_fastsnn_restarts_once_with_the_policy(tmp_path):
    """``python -m fastsnn`` imports torch with the package; the command then re-executes itself."""
    result, events = run_probed(tmp_path, [sys.executable, "-m", "fastsnn", "--threads", "1", "plugins", "--json"])
    assert result.returncode == 0, result.stderr
    assert events == [
        {"event": "import torch", "OMP_WAIT_POLICY": None},  # the first process, replaced by exec
        {"event": "import torch", "OMP_WAIT_POLICY": "PASSIVE"},
        {"event": "exit", "threads": 1},
    ]


def test_an_explicit_environment_is_respected_without_a_restart(tmp_path):
    result, events = run_probed(tmp_path, [sys.executable, "-m", "fastsnn.cli.main", "plugins", "--json"],
                                OMP_WAIT_POLICY="ACTIVE", FASTSNN_THREADS="1")
    assert result.returncode == 0, result.stderr
    assert events == [{"event": "import torch", "OMP_WAIT_POLICY": "ACTIVE"}, {"event": "exit", "threads": 1}]


@pytest.mark.parametrize("threads", [0, CPUS + 1])
def test_bad_threads_option_is_a_usage_error(tmp_path, threads):
    result, _ = run_probed(tmp_path, [console_script(), "--threads", str(threads), "plugins"])
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"Error: --threads {threads}: expected a whole number of CPU threads from 1 to {CPUS} (os.cpu_count() "
        "on this machine); e.g. --threads 1, or leave it out to use every CPU"
    )

