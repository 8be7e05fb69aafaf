"""Test sessions over all FastSNN packages.

    nox                    # lint, tests, isolation (what CI runs)
    nox -s tests -- -k cli # pass pytest arguments after --
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests", "isolation"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

# The CPU wheel of torch; installed first so no resolver pulls a multi-GB CUDA build.
TORCH = "torch==2.13.0"
PACKAGES = ["./fastsnn-core", "./fastsnn-neurons", "./fastsnn-attention", "./fastsnn-convert", "./plugins-example"]
TEST_DEPS = ["pytest>=7", "hypothesis>=6", "pyyaml>=6", "setuptools>=68"]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole repository."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Every package plus the example plugin installed; the whole suite."""
    session.install(TORCH)
    session.install(*PACKAGES, *TEST_DEPS)
    session.run("python", "-m", "pytest", "-q", *session.posargs, env={"FASTSNN_ISOLATION_TEST": "0"})


@nox.session
def isolation(session: nox.Session) -> None:
    """Only fastsnn-core and fastsnn-attention installed: discovery and 'install X' messages."""
    session.install(TORCH)
    session.install("./fastsnn-core", "./fastsnn-attention", *TEST_DEPS)
    session.run("python", "-m", "pytest", "-q", "tests/isolation", "fastsnn-attention/tests",
                *session.posargs, env={"FASTSNN_ISOLATION_TEST": "1"})


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (not part of the default run): nox -s bench -- neurons."""
    session.install(TORCH)
    session.install(*PACKAGES[:4])
    for name in session.posargs or ["neurons", "attention", "model"]:
        session.run("fastsnn", "bench", name)
