"""FastSNN's CPU thread policy: how many torch threads, and how idle OpenMP threads wait.

Why. torch runs its CPU kernels on an OpenMP thread pool (libgomp on Linux, LLVM libomp on
macOS). By default a pool thread that reaches a barrier *spins* before it sleeps. On an idle
machine that saves a wake-up; on a busy one — a laptop running other work, a shared server, CI
running two test processes on two cores — the thread the others wait for is descheduled, and its
spinning siblings burn the time slices it needs. On the 2-core development machine beside one
busy process, ``fastsnn demo`` trained at 150 tokens/s instead of 6,800 and decoded at 65 ms per
token instead of 2 (BENCHMARKS.md, "Thread policy"). With ``OMP_WAIT_POLICY=PASSIVE`` a waiting
thread sleeps at once: it costs a wake-up per parallel region on an idle machine and removes the
collapse on a busy one.

The policy, decided here once and applied by every entry point (the ``fastsnn`` command,
``python -m fastsnn``, the test suite's ``conftest.py``, the benchmark scripts):

- **wait policy** — ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already sets
  ``OMP_WAIT_POLICY`` (any value is respected). OpenMP reads it once, when ``import torch``
  loads the runtime, so it must be in ``os.environ`` before that: :func:`prepare_environment`
  does exactly this, and this module imports neither torch nor ``fastsnn`` at import time (the
  ``fastsnn`` package imports torch), which is why it is a top-level module;
- **thread count** — the first that is given of: ``--threads N`` (the ``threads`` argument),
  ``FASTSNN_THREADS``, ``OMP_NUM_THREADS`` (torch reads it itself), the caller's
  ``default_threads`` (the test suite uses 1), else torch's own default (the CPUs this process
  may use). A count must be a whole number from 1 to ``os.cpu_count()``.

To apply it in your own program, call :func:`apply_thread_policy` before ``import torch``::

    import fastsnn_runtime
    fastsnn_runtime.apply_thread_policy()   # or apply_thread_policy(threads=4)
    import torch

Called after torch was imported it still sets the thread count, but the wait policy can no
longer change (:attr:`ThreadPolicy.wait_policy_source` then says so).
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass
from typing import Mapping, MutableMapping, NoReturn

WAIT_POLICY_VAR = "OMP_WAIT_POLICY"
WAIT_POLICY = "PASSIVE"
THREADS_VAR = "FASTSNN_THREADS"
OMP_THREADS_VAR = "OMP_NUM_THREADS"

__all__ = [
    "THREADS_VAR",
    "WAIT_POLICY",
    "WAIT_POLICY_VAR",
    "ThreadPolicy",
    "apply_thread_policy",
    "choose_threads",
    "main",
    "prepare_environment",
    "rerun_module_with_policy",
]


@dataclass(frozen=True)
class ThreadPolicy:
    """What :func:`apply_thread_policy` decided, and why.

    :param threads: torch intra-op threads after the call.
    :param threads_source: where the count came from, e.g. ``"--threads"``, ``"FASTSNN_THREADS"``,
        ``"OMP_NUM_THREADS"``, ``"default of the caller"``, ``"torch default"``.
    :param wait_policy: ``OMP_WAIT_POLICY`` as the OpenMP runtime read it (``None``: unset, OpenMP
        spins before sleeping).
    :param wait_policy_source: ``"fastsnn default"``, ``"environment"``, or (variable unset) a
        sentence saying that torch started before the policy could set it.
    """

    threads: int
    threads_source: str
    wait_policy: str | None
    wait_policy_source: str

    def __str__(self) -> str:
        wait = f"{WAIT_POLICY_VAR}={self.wait_policy}" if self.wait_policy else f"{WAIT_POLICY_VAR} unset"
        threads = f"{self.threads} torch thread{'s' if self.threads != 1 else ''}"
        return f"{threads} ({self.threads_source}), {wait} ({self.wait_policy_source})"


_SET_HERE: dict[str, str] = {}  # what prepare_environment put into os.environ in this process


def _unset(environ: Mapping[str, str], name: str) -> bool:
    return not environ.get(name, "").strip()


def torch_started() -> bool:
    """Whether torch (hence its OpenMP runtime) is already loaded in this process."""
    return "torch" in sys.modules


def prepare_environment(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Put the wait policy into ``environ`` (default ``os.environ``) unless the user set one.

    Must run before ``import torch`` to take effect; child processes inherit it. Returns the
    variables it set (empty when the environment already had them).
    """
    target = os.environ if environ is None else environ
    if not _unset(target, WAIT_POLICY_VAR):
        return {}
    target[WAIT_POLICY_VAR] = WAIT_POLICY
    if target is os.environ:
        _SET_HERE[WAIT_POLICY_VAR] = WAIT_POLICY
    return {WAIT_POLICY_VAR: WAIT_POLICY}


def _bad_count(what: str, cpus: int, fix: str) -> NoReturn:
    from fastsnn.errors import FastSNNError  # imports torch: only on the error path

    raise FastSNNError(
        f"{what}: expected a whole number of CPU threads from 1 to {cpus} (os.cpu_count() on this "
        f"machine); {fix}"
    )


def choose_threads(
    threads: int | None = None,
    environ: Mapping[str, str] | None = None,
    default_threads: int | None = None,
    cpus: int | None = None,
) -> tuple[int | None, str]:
    """Decide the torch thread count without touching torch.

    :returns: ``(count, source)``; ``count`` is ``None`` when torch keeps the count it chose at
        import (``OMP_NUM_THREADS``, or torch's default).
    :raises fastsnn.FastSNNError: ``threads`` or ``FASTSNN_THREADS`` is not a whole number from 1
        to ``cpus`` (default ``os.cpu_count()``).
    """
    environ = os.environ if environ is None else environ
    cpus = cpus or os.cpu_count() or 1
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= cpus:
            _bad_count(f"--threads {threads!r}", cpus, "e.g. --threads 1, or leave it out to use every CPU")
        return threads, "--threads"
    if not _unset(environ, THREADS_VAR):
        raw = environ[THREADS_VAR]
        count = int(raw) if raw.strip().isdigit() else 0
        if not 1 <= count <= cpus:
            _bad_count(f"{THREADS_VAR}={raw!r}", cpus, f"e.g. {THREADS_VAR}=1, or unset it to use every CPU")
        return count, THREADS_VAR
    if not _unset(environ, OMP_THREADS_VAR):
        return None, OMP_THREADS_VAR
    if default_threads is not None:
        return default_threads, "default of the caller"
    return None, "torch default"


def apply_thread_policy(
    threads: int | None = None,
    *,
    default_threads: int | None = None,
    environ: MutableMapping[str, str] | None = None,
) -> ThreadPolicy:
    """Apply the policy (module docstring) to this process and return what was decided.

    Before ``import torch`` it sets the wait policy, then imports torch; once torch is loaded only
    the thread count can change. ``threads`` is the ``--threads`` value; ``default_threads`` is
    used when none of ``threads``, ``FASTSNN_THREADS`` and ``OMP_NUM_THREADS`` gives a count.
    ``environ`` defaults to ``os.environ``.

    :raises fastsnn.FastSNNError: a bad ``threads`` or ``FASTSNN_THREADS`` (see :func:`choose_threads`).
    """
    environ = os.environ if environ is None else environ
    count, threads_source = choose_threads(threads, environ, default_threads)
    if not torch_started():
        prepare_environment(environ)
    import torch

    if count is not None and torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return ThreadPolicy(torch.get_num_threads(), threads_source, environ.get(WAIT_POLICY_VAR) or None,
                        _wait_policy_source(environ))


def _wait_policy_source(environ: Mapping[str, str]) -> str:
    if _unset(environ, WAIT_POLICY_VAR):
        return "torch started before the policy could set it, so OpenMP threads spin"
    if environ is os.environ and _SET_HERE.get(WAIT_POLICY_VAR) == environ[WAIT_POLICY_VAR]:
        return "fastsnn default"
    return "environment"


def main() -> None:
    """The ``fastsnn`` console script: set the wait policy, then import and run the CLI."""
    prepare_environment()
    from fastsnn.cli.main import main as cli_main

    cli_main()


def rerun_module_with_policy(module: str) -> None:
    """For ``python -m MODULE``: start the command again if torch was loaded before the policy.

    ``python -m fastsnn`` imports the ``fastsnn`` package (hence torch) before ``__main__`` runs,
    too late for :func:`prepare_environment`. When the policy had to set a variable, replace this
    process by the same command line with the variable set (one more interpreter start, only while
    ``OMP_WAIT_POLICY`` is unset); otherwise, or when the command line is not ``-m MODULE`` on a
    POSIX system, return and let the caller run as is.
    """
    argv = list(getattr(sys, "orig_argv", []))
    started_as_module = any(a == "-m" and b == module for a, b in itertools.pairwise(argv))
    if not torch_started() or not started_as_module or os.name != "posix" or not sys.executable:
        prepare_environment()
        return
    if prepare_environment():
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, *argv[1:]])
