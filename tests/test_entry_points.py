"""Plugins found through real entry points: distributions pip-installed into a temp folder.

These run the CLI in a subprocess with the temp folder on PYTHONPATH, so discovery goes through
``importlib.metadata`` exactly as for a user's ``pip install``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN_TEMPLATE = '''
from fastsnn import Params, SpikeTensor, SpikingNeuron, hookimpl

PLUGIN_API_VERSION = "{api}"
{prelude}

class {cls}(SpikingNeuron):
    """A throwaway neuron from {dist}."""

    class Params(Params):
        pass

    def spikes(self, x):
        return SpikeTensor.count(x.round(), 1.0)


@hookimpl
def fastsnn_register_neurons(register):
    register("{neuron}", {cls})
'''


def make_dist(root: Path, dist: str, neuron: str, *, api: str = "2.0", prelude: str = "") -> Path:
    """Write a minimal plugin distribution ``dist`` registering ``neuron``."""
    pkg = dist.replace("-", "_")
    src = root / dist
    (src / pkg).mkdir(parents=True)
    (src / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{dist}"
        version = "0.3.1"
        [project.entry-points.fastsnn]
        {pkg} = "{pkg}.plugin"
        [tool.setuptools]
        packages = ["{pkg}"]
    """))
    (src / pkg / "__init__.py").write_text("")
    (src / pkg / "plugin.py").write_text(
        PLUGIN_TEMPLATE.format(api=api, prelude=prelude, cls="ThrowawayNeuron", dist=dist, neuron=neuron)
    )
    return src


def pip_install_target(src: Path, target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(src)],
        check=True, capture_output=True, text=True,
    )


def fastsnn_cli(target: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTSNN_")}
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")])
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "fastsnn.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder with three installed throwaway plugins: good, broken on import, future API."""
    root = tmp_path_factory.mktemp("dists")
    target = root / "site"
    pip_install_target(make_dist(root, "fastsnn-throwaway", "throwaway_neuron"), target)
    pip_install_target(make_dist(root, "fastsnn-broken", "broken_neuron", prelude="import not_a_real_module_xyz"), target)
    pip_install_target(make_dist(root, "fastsnn-future", "future_neuron", api="3.0"), target)
    return target


def test_installed_plugin_is_discovered_through_entry_points(site):
    result = fastsnn_cli(site, "list", "neuron", "--json")
    assert result.returncode == 0, result.stderr
    found = {c["name"]: c for c in json.loads(result.stdout)}
    assert found["throwaway_neuron"]["distribution"] == "fastsnn-throwaway"
    assert found["throwaway_neuron"]["version"] == "0.3.1"


def test_broken_and_incompatible_plugins_are_reported_not_fatal(site):
    result = fastsnn_cli(site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["fastsnn_throwaway"]["status"] == "ok"
    assert plugins["fastsnn_broken"]["status"] == "broken"
    assert "not_a_real_module_xyz" in plugins["fastsnn_broken"]["error"]
    assert plugins["fastsnn_future"]["status"] == "broken" and "plugin API 3.0" in plugins["fastsnn_future"]["error"]
    assert plugins["fastsnn_future"]["components"] == []


def test_strict_mode_fails_naming_the_plugin(site):
    result = fastsnn_cli(site, "list", FASTSNN_STRICT_PLUGINS="1")
    assert result.returncode == 2
    assert "plugin 'fastsnn_broken' from distribution fastsnn-broken failed to load" in result.stderr
    assert "Traceback" not in result.stderr


def test_load_plugins_restricts_what_is_loaded(site):
    result = fastsnn_cli(site, "plugins", "--json", FASTSNN_LOAD_PLUGINS="fastsnn-throwaway")
    names = {p["name"] for p in json.loads(result.stdout)}
    assert names == {"fastsnn.builtins", "fastsnn_throwaway"}
    result = fastsnn_cli(site, "plugins", "--json", FASTSNN_LOAD_PLUGINS="")
    assert {p["name"] for p in json.loads(result.stdout)} == {"fastsnn.builtins"}


def test_trace_plugins_prints_hook_calls(site):
    result = fastsnn_cli(site, "list", "neuron", FASTSNN_TRACE_PLUGINS="1", FASTSNN_LOAD_PLUGINS="fastsnn_throwaway")
    assert "fastsnn_register_neurons from fastsnn_throwaway: registered ['throwaway_neuron']" in result.stderr


def test_two_distributions_registering_one_name(tmp_path):
    target = tmp_path / "site"
    pip_install_target(make_dist(tmp_path, "fastsnn-twin-a", "twin"), target)
    pip_install_target(make_dist(tmp_path, "fastsnn-twin-b", "twin"), target)
    only = "fastsnn_twin_a,fastsnn_twin_b"
    result = fastsnn_cli(target, "info", "neuron", "twin", FASTSNN_LOAD_PLUGINS=only)
    assert result.returncode == 2
    assert "fastsnn-twin-a (plugin 'fastsnn_twin_a') and fastsnn-twin-b (plugin 'fastsnn_twin_b')" in result.stderr
    assert "'fastsnn-twin-a:twin' or 'fastsnn-twin-b:twin'" in result.stderr and "FASTSNN_LOAD_PLUGINS" in result.stderr
    result = fastsnn_cli(target, "info", "neuron", "fastsnn-twin-b:twin", "--json", FASTSNN_LOAD_PLUGINS=only)
    assert result.returncode == 0 and json.loads(result.stdout)["distribution"] == "fastsnn-twin-b"
    result = fastsnn_cli(target, "plugins", FASTSNN_LOAD_PLUGINS=only)
    assert "neuron 'twin' is also registered by fastsnn-twin-b; use fastsnn-twin-a:twin" in result.stdout


def test_a_clash_with_an_installed_package_disables_nothing_else(tmp_path):
    """A throwaway plugin registering ``adaptive_threshold`` beside the real fastsnn-neurons."""
    pytest.importorskip("fastsnn_neurons")
    target = tmp_path / "site"
    pip_install_target(make_dist(tmp_path, "fastsnn-shadow", "adaptive_threshold"), target)
    only = {"FASTSNN_LOAD_PLUGINS": "neurons,fastsnn_shadow"}
    listed = fastsnn_cli(target, "list", "neuron", "--json", **only)
    names = {(c["name"], c["distribution"]) for c in json.loads(listed.stdout)}
    assert {("lif", "fastsnn-neurons"), ("if", "fastsnn-neurons"), ("adaptive_threshold", "fastsnn-shadow"),
            ("adaptive_threshold", "fastsnn-neurons")} <= names
    lif = fastsnn_cli(target, "info", "neuron", "lif", **only)
    assert lif.returncode == 0, lif.stderr
    clash = fastsnn_cli(target, "info", "neuron", "adaptive_threshold", **only)
    assert clash.returncode == 2 and "fastsnn-neurons" in clash.stderr and "fastsnn-shadow" in clash.stderr
    assert "pip install" not in clash.stderr


def test_a_missing_component_of_an_installed_but_unloaded_package_does_not_say_install(tmp_path):
    pytest.importorskip("fastsnn_neurons")
    result = fastsnn_cli(tmp_path, "info", "neuron", "lif", FASTSNN_LOAD_PLUGINS="")
    assert result.returncode == 2
    assert "provided by fastsnn-neurons, which is installed but not loaded" in result.stderr
    assert "pip install" not in result.stderr


def test_plugin_new_scaffold_installs_and_is_listed(tmp_path):
    target = tmp_path / "site"
    result = fastsnn_cli(target, "plugin", "new", "scaffolded", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    root = tmp_path / "fastsnn-scaffolded"
    pip_install_target(root, target)
    listed = fastsnn_cli(target, "list", "neuron", "--json", FASTSNN_LOAD_PLUGINS="scaffolded")
    assert "scaffolded_step" in {c["name"] for c in json.loads(listed.stdout)}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
