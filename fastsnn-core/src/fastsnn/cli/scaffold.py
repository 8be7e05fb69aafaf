"""``fastsnn plugin new NAME``: scaffold a plugin package that works out of the box."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

import click

from fastsnn.errors import FastSNNError
from fastsnn.plugins import PLUGIN_API_VERSION

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")

PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "fastsnn-$dist"
version = "0.1.0"
description = "A FastSNN plugin: $name"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["fastsnn-core>=0.1", "torch>=2.3", "pydantic>=2.5"]

[project.optional-dependencies]
test = ["pytest>=7"]

# This line is what makes FastSNN find the plugin.
[project.entry-points.fastsnn]
$pkg = "$module.plugin"

[tool.setuptools.packages.find]
where = ["src"]
''')

PLUGIN = Template('''\
"""FastSNN plugin `$name`: registers the neuron `${pkg}_step`."""

from __future__ import annotations

import torch
from pydantic import Field

import fastsnn
from fastsnn import SpikeTensor, SpikingNeuron, hookimpl

#: The FastSNN plugin API this plugin was written for.
PLUGIN_API_VERSION = "$api"


class _RoundSTE(torch.autograd.Function):
    """round() forward, identity backward (straight-through)."""

    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class StepNeuron(SpikingNeuron):
    """Fixed-threshold integer neuron: counts = clamp(round(x / threshold), -max_count, max_count)."""

    # Each parameter is declared once, here: type, default, bounds, description. FastSNN validates
    # configs and Python calls against it and stores the result in self.params; no __init__ needed.
    class Params(fastsnn.Params):
        threshold: float = Field(1.0, gt=0, description="value of one spike")
        max_count: int = Field(15, gt=0, description="largest spike count per step")

    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        """x [..., D] -> counts [..., D] (float holding integers) with scale threshold."""
        p = self.params
        counts = _RoundSTE.apply(x / p.threshold).clamp(-p.max_count, p.max_count)
        return SpikeTensor.count(counts, p.threshold)


@hookimpl
def fastsnn_register_neurons(register):
    register("${pkg}_step", StepNeuron)
''')

TEST = Template('''\
import inspect

import pytest
import torch

import fastsnn
from fastsnn.testing import use_plugins

from $module import plugin


@pytest.fixture(autouse=True)
def _only_this_plugin():
    with use_plugins(plugin):
        yield


def test_neuron_is_registered_and_counts_are_integers():
    neuron = fastsnn.create("neuron", "${pkg}_step", threshold=0.5)
    x = torch.tensor([[0.2, 0.3, -1.1, 100.0]], requires_grad=True)
    out = neuron.spikes(x)
    assert out.counts.tolist() == [[0.0, 1.0, -2.0, 15.0]]
    neuron(x).sum().backward()
    assert x.grad.tolist() == [[1.0, 1.0, 1.0, 0.0]]  # straight-through inside, zero where clamped


def test_each_parameter_is_declared_once():
    neuron = fastsnn.create("neuron", "${pkg}_step")
    assert neuron.params == plugin.StepNeuron().params == plugin.StepNeuron.Params(threshold=1.0, max_count=15)
    assert not set(plugin.StepNeuron.Params.model_fields) & set(inspect.signature(plugin.StepNeuron).parameters)


def test_bad_threshold_is_rejected():
    with pytest.raises(fastsnn.FastSNNError, match="threshold: Input should be greater than 0"):
        fastsnn.create("neuron", "${pkg}_step", threshold=0)
''')

README = Template('''\
# fastsnn-$dist

A FastSNN plugin. It registers the neuron `${pkg}_step` (see `src/$module/plugin.py`).

    pip install -e .
    fastsnn list neuron          # shows ${pkg}_step
    fastsnn info neuron ${pkg}_step
    pytest tests

Declare each parameter once, in the component's nested `Params` (a `fastsnn.Params`), and read
it from `self.params`. Add more components by implementing other hooks
(`fastsnn_register_attention`, `fastsnn_register_conversion_rules`, ...) in `plugin.py`; see
`fastsnn.hookspecs` and the tutorial in `plugins-example/README.md` of the FastSNN repository.
''')


def scaffold_plugin(name: str, directory: Path) -> Path:
    """Create ``directory/fastsnn-<name>/`` with pyproject, plugin module, test and README."""
    if not NAME_RE.match(name):
        raise FastSNNError(
            f"plugin name {name!r} is not valid: use lower-case letters, digits, '-' or '_', starting with a letter"
        )
    pkg = name.replace("-", "_")
    module = f"fastsnn_{pkg}"
    root = directory / f"fastsnn-{name}"
    if root.exists():
        raise FastSNNError(f"{root} already exists; choose another name or --dir")
    values = {"name": name, "dist": name, "pkg": pkg, "module": module, "api": PLUGIN_API_VERSION}
    files = {
        root / "pyproject.toml": PYPROJECT,
        root / "README.md": README,
        root / "src" / module / "__init__.py": Template('"""FastSNN plugin $name."""\n'),
        root / "src" / module / "plugin.py": PLUGIN,
        root / "tests" / f"test_{pkg}.py": TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.substitute(values))
    return root


@click.group()
def plugin() -> None:
    """Work with plugin packages."""


@plugin.command()
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create the package folder.")
def new(name: str, directory: Path) -> None:
    """Scaffold a plugin package NAME: pyproject with the entry point, hookimpls, a passing test."""
    root = scaffold_plugin(name, directory)
    click.echo(f"created {root}")
    click.echo(f"next: pip install -e {root} && fastsnn list neuron && pytest {root / 'tests'}")
