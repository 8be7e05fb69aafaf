"""Every package is ready to publish: one version, complete metadata, pins on the same release line.

The five distributions read their version from ``VERSION`` in their own folder, a link to the
repository's one ``VERSION`` file (setuptools' ``dynamic`` version); the same goes for ``LICENSE``.
Building the wheels and sdists, ``twine check`` and an offline install are the ``wheels`` nox
session's job (it needs the network for the build backends); this file checks what can be read.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {  # folder -> distribution name
    "fastsnn-core": "fastsnn-core",
    "fastsnn-neurons": "fastsnn-neurons",
    "fastsnn-attention": "fastsnn-attention",
    "fastsnn-convert": "fastsnn-convert",
    "plugins-example": "fastsnn-example",
}
ENTRY_POINTS = {  # the fastsnn plugin entry point each plugin package declares
    "fastsnn-neurons": {"neurons": "fastsnn_neurons.plugin"},
    "fastsnn-attention": {"attention": "fastsnn_attention.plugin"},
    "fastsnn-convert": {"convert": "fastsnn_convert.plugin"},
    "plugins-example": {"example": "fastsnn_example.plugin"},
}
URL_KEYS = {"Homepage", "Documentation", "Repository", "Issues", "Changelog"}


def version() -> str:
    return (REPO / "VERSION").read_text(encoding="utf-8").strip()


def pyproject(folder: str) -> dict:
    return tomllib.loads((REPO / folder / "pyproject.toml").read_text(encoding="utf-8"))


def release_line(v: str) -> str:
    """The requirement a sibling package must state: ``>=X.Y.Z,<X.(Y+1)`` (0.x minors may break)."""
    major, minor, *_ = (int(part) for part in v.split("."))
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={v},<{upper}"


def test_the_version_is_one_pep440_release():
    assert re.fullmatch(r"\d+\.\d+\.\d+", version()), f"VERSION holds {version()!r}, not X.Y.Z"


def test_release_line():
    assert release_line("0.1.0") == ">=0.1.0,<0.2"
    assert release_line("0.3.2") == ">=0.3.2,<0.4"
    assert release_line("1.4.0") == ">=1.4.0,<2"


@pytest.mark.parametrize("folder", PACKAGES)
def test_version_and_license_come_from_the_repository_files(folder):
    for name in ("VERSION", "LICENSE"):
        path = REPO / folder / name
        assert path.is_symlink() and path.resolve() == (REPO / name).resolve(), (
            f"{folder}/{name} must be a link to ../{name} (the one place it is written)")
    meta = pyproject(folder)
    assert "version" not in meta["project"], f"{folder}/pyproject.toml writes a version of its own"
    assert "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"file": "VERSION"}
    assert "Apache License" in (REPO / "LICENSE").read_text(encoding="utf-8")[:200]


@pytest.mark.parametrize("folder", PACKAGES)
def test_metadata_is_complete(folder):
    project = pyproject(folder)["project"]
    assert project["name"] == PACKAGES[folder]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert project["requires-python"] == ">=3.10"
    assert project["readme"] == "README.md" and (REPO / folder / "README.md").is_file()
    assert project["description"] and project["keywords"] and project["authors"]
    classifiers = project["classifiers"]
    for minor in (10, 11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers), "PEP 639: the license expression says it"
    assert set(project["urls"]) == URL_KEYS
    assert project["urls"] == pyproject("fastsnn-core")["project"]["urls"], "every package points at the same home"
    assert "test" in project["optional-dependencies"]
    assert project.get("entry-points", {}).get("fastsnn", {}) == ENTRY_POINTS.get(folder, {})


def test_core_declares_the_cli_and_its_extras():
    project = pyproject("fastsnn-core")["project"]
    assert set(project["scripts"]) == {"fastsnn"}
    assert "yaml" in project["optional-dependencies"]


@pytest.mark.parametrize("folder", [f for f in PACKAGES if f != "fastsnn-core"])
def test_plugins_pin_core_to_the_same_release_line(folder):
    deps = pyproject(folder)["project"]["dependencies"]
    core = [d for d in deps if re.match(r"fastsnn-core\b", d)]
    assert core == [f"fastsnn-core{release_line(version())}"], (
        f"{folder} requires {core}; with VERSION {version()} it must require fastsnn-core{release_line(version())}")
    assert not [d for d in deps if re.match(r"fastsnn-(neurons|attention|convert|example)\b", d)], (
        "plugin packages never depend on each other")


def test_the_plugin_tutorial_shows_the_real_dependencies():
    tutorial = (REPO / "plugins-example" / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"^dependencies = (\[.*\])$", tutorial, re.M)
    assert shown, "plugins-example/README.md no longer shows its dependencies line"
    assert tomllib.loads(f"d = {shown[1]}")["d"] == pyproject("plugins-example")["project"]["dependencies"]
