"""Test sessions over all FastSNN packages.

    nox                    # lint, tests, isolation, docs, wheels (what CI runs)
    nox -s tests -- -k cli # pass pytest arguments after --
    nox -s docs            # the documentation site, mkdocs build --strict (site in build/site)
    nox -s wheels          # wheels + sdists in dist/, twine check, offline install in a fresh venv
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from email.parser import Parser
from pathlib import Path

import nox

# Measured on the 2-core machine while others ran (2026-12-01): tests 8 min, isolation 1, docs 1, wheels 4.
nox.options.sessions = ["lint", "tests", "isolation", "docs", "wheels"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

# The CPU wheel of torch; installed first so no resolver pulls a multi-GB CUDA build.
TORCH = "torch==2.13.0"
PACKAGES = ["./fastsnn-core", "./fastsnn-neurons", "./fastsnn-attention", "./fastsnn-convert", "./plugins-example"]
DOCS_DEPS = ["mkdocs>=1.6,<2", "mkdocs-material>=9.5,<10", "mkdocstrings[python]>=0.26", "mkdocs-gen-files>=0.5",
             "mkdocs-literate-nav>=0.6"]
TEST_DEPS = ["pytest>=7", "hypothesis>=6", "pyyaml>=6", "setuptools>=68", "tokenizers>=0.15"]  # tokenizers: the bpe tests
# fastsnn-core's optional extras [nir] and [onnx] (see its pyproject), so that the NIR and ONNX tests run
EXPORT_DEPS = ["nir>=1.0", "onnx>=1.17", "onnxscript>=0.5", "onnxruntime>=1.20"]
# fastsnn-core's optional extra [scope]: SpikeScope's plots (the tests look at them; Pillow comes with it)
SCOPE_DEPS = ["matplotlib>=3.7"]
# fastsnn-convert's extra [hf], so that the Hugging Face conversion tests (tiny local configs, no download) run
HF_DEPS = ["transformers>=4.46"]
# fastsnn bench convert's data set (scikit-learn's bundled digits), so its tiny-budget test runs
BENCH_DEPS = ["scikit-learn>=1.3"]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole repository."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Every package plus the example plugin installed; the whole suite."""
    session.install(TORCH)
    session.install(*PACKAGES, *TEST_DEPS, *EXPORT_DEPS, *HF_DEPS, *SCOPE_DEPS, *BENCH_DEPS, "pytest-xdist>=3")
    # one pytest worker per core, at most 4 (each holds torch and a few models): on CI's 2 cores the
    # suite takes ~7 instead of ~11 minutes; `nox -s tests -- -n 0` runs it in one process
    workers = str(min(4, os.cpu_count() or 1))
    session.run("python", "-m", "pytest", "-q", "-n", workers, *session.posargs, env={"FASTSNN_ISOLATION_TEST": "0"})


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


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site: every package installed, component pages generated from the registry."""
    session.install(TORCH)
    session.install(*PACKAGES, *DOCS_DEPS)
    quiet = {"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}  # banners of the theme/plugins
    session.run("mkdocs", "build", "--strict", "--site-dir", "build/site", *session.posargs, env=quiet)


@nox.session
def wheels(session: nox.Session) -> None:
    """Publishable packages: a wheel and an sdist of each in dist/, ``twine check``, then a fresh
    venv installs the four framework wheels with ``--no-index`` from that folder and runs ``fastsnn demo``.
    """
    session.install("build>=1.2", "twine>=6.1")
    tmp = Path(session.create_tmp()).resolve()
    dist = Path("dist").resolve()
    shutil.rmtree(dist, ignore_errors=True)
    for package in PACKAGES:
        # build from a copy (links resolved) so no build/ or *.egg-info lands in the work tree
        source = tmp / "src" / Path(package).name
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(package, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        session.run("python", "-m", "build", "--outdir", str(dist), str(source), silent=True)
    built = sorted(str(p) for p in dist.iterdir())
    session.run("twine", "check", "--strict", *built)

    framework = ["fastsnn-core", "fastsnn-neurons", "fastsnn-attention", "fastsnn-convert"]
    deps = tmp / "deps"  # the third-party requirements (torch aside), so the install itself is offline
    session.run("python", "-m", "pip", "download", "--quiet", "--dest", str(deps),
                *third_party_requirements(dist, framework))
    venv = tmp / "fresh"
    shutil.rmtree(venv, ignore_errors=True)
    session.run("python", "-m", "venv", str(venv))
    python, fastsnn = str(venv / "bin" / "python"), str(venv / "bin" / "fastsnn")
    session.run(python, "-m", "pip", "install", "--quiet", TORCH, external=True)
    session.run(python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(dist),
                "--find-links", str(deps), *framework, external=True)
    session.run(python, "-m", "pip", "check", external=True)
    session.chdir(tmp)  # nothing from the work tree on sys.path
    version = (Path(__file__).parent / "VERSION").read_text(encoding="utf-8").strip()
    session.run(python, "-c", f"import fastsnn, sys; v = fastsnn.__version__; sys.exit(v != {version!r} and "
                f"f'fastsnn {{v}} installed, VERSION says {version}')", external=True)
    plugins = {p["distribution"]: p["status"] for p in
               json.loads(session.run(fastsnn, "plugins", "--json", external=True, silent=True))}
    if plugins != dict.fromkeys(framework, "ok"):
        session.error(f"the installed wheels' plugins: {plugins}; expected the four framework packages, all ok")
    session.run(fastsnn, "demo", external=True)


def third_party_requirements(dist: Path, names: list[str]) -> list[str]:
    """The ``Requires-Dist`` of the named wheels in ``dist``, without extras, torch or FastSNN's own."""
    requirements: set[str] = set()
    for wheel in dist.glob("*.whl"):
        if wheel.name.split("-")[0].replace("_", "-") not in names:
            continue
        with zipfile.ZipFile(wheel) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            message = Parser().parsestr(archive.read(metadata).decode("utf-8"))
        for requirement in message.get_all("Requires-Dist") or []:
            name = requirement.split(";")[0].strip()
            if "extra ==" in requirement or name.startswith(("fastsnn-", "torch")):
                continue
            requirements.add(requirement)
    return sorted(requirements)
