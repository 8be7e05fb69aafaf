"""The seed's quick start at the repository root: ``pip install -e .`` and ``python oneclick.py``.

The root is not a distribution (the four packages live in folders), so ``pip install -e .`` must
stop at once with the commands that do install FastSNN — never "succeed" by installing an empty
``UNKNOWN`` 0.0.0, as setuptools' legacy fallback did. ``python oneclick.py`` runs ``fastsnn demo``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EDITABLE = "pip install -e ./fastsnn-core -e ./fastsnn-neurons -e ./fastsnn-attention -e ./fastsnn-convert"


@pytest.fixture
def root_copy(tmp_path):
    """The root's build files in a temporary folder, so a pip run can never write into the checkout."""
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    shutil.copytree(REPO / "tools", tmp_path / "tools")
    return tmp_path


@pytest.mark.parametrize("editable", [True, False], ids=["pip install -e .", "pip install ."])
def test_pip_install_at_the_root_stops_with_the_install_commands(root_copy, editable):
    # --dry-run: even if this regressed, nothing would be installed; --no-index: offline (no build requirements)
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", *(["-e"] if editable else []), "."]
    result = subprocess.run(cmd, cwd=root_copy, capture_output=True, text=True, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "FastSNN is not one package" in out and EDITABLE in out and "python oneclick.py" in out
    assert "UNKNOWN" not in out and "Would install" not in out
    assert sorted(p.name for p in root_copy.iterdir()) == ["pyproject.toml", "tools"]  # nothing built


def test_the_backend_stops_in_every_hook():
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import repo_root_backend as backend
    finally:
        sys.path.remove(str(REPO / "tools"))
    hooks = ["get_requires_for_build_wheel", "get_requires_for_build_editable", "get_requires_for_build_sdist",
             "prepare_metadata_for_build_wheel", "prepare_metadata_for_build_editable", "build_wheel",
             "build_editable", "build_sdist"]
    for hook in hooks:
        with pytest.raises(SystemExit) as info:
            getattr(backend, hook)("wheel_directory", config_settings=None)
        assert EDITABLE in str(info.value.code)


def test_oneclick_runs_the_demo():
    result = subprocess.run([sys.executable, str(REPO / "oneclick.py")], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[1/4] spiking language model" in result.stdout and "shapes match: True" in result.stdout
    assert "learned: 26 of 26 prompts continued right (before training: 0 of 26)" in result.stdout


def test_oneclick_without_fastsnn_installed_says_how_to_install(tmp_path):
    # -I -S: neither PYTHONPATH nor site-packages, as in a Python where nothing was installed
    result = subprocess.run([sys.executable, "-I", "-S", str(REPO / "oneclick.py")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("FastSNN is not installed in this Python") and EDITABLE in result.stderr
