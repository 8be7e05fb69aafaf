"""Meta-test over every registered component of every installed package: each parameter is
declared once (in ``Params``), and what ``fastsnn info`` shows is what a Python caller gets."""

from __future__ import annotations

import inspect
import json

import pytest
from click.testing import CliRunner

import fastsnn
from fastsnn.cli.main import cli
from fastsnn.testing import use_plugins

CONTEXT = {"d_model": 16, "n_heads": 2, "layer_idx": 0, "max_seq_len": 64, "n_layers": 2, "dim": 16, "d_ff": 32}
#: values for Params fields that have no default
REQUIRED = {"dim": 16}


@pytest.fixture(scope="module")
def specs():
    with use_plugins(entry_points=True):
        yield fastsnn.get_registry().specs()


def _context(spec):
    kind = fastsnn.get_registry().kinds[spec.kind]
    context = {k: v for k, v in CONTEXT.items() if k in kind.all_context}
    if "neuron" in kind.context:
        context["neuron"] = fastsnn.create("neuron", fastsnn.DEFAULT_NEURON)
    return context


def test_every_first_party_package_registers_components(specs):
    dists = {s.distribution for s in specs}
    assert {"fastsnn-core", "fastsnn-neurons", "fastsnn-attention", "fastsnn-convert", "fastsnn-example"} <= dists
    assert len(specs) > 40


def test_no_component_repeats_a_parameter_in_its_constructor(specs):
    offenders = []
    for spec in specs:
        if not inspect.isclass(spec.factory):
            signature = inspect.signature(spec.factory)
            named = set(signature.parameters) - {"params"}
        else:
            named = set()
            for cls in spec.factory.__mro__:  # every __init__ on the way up, not only the last
                if "__init__" in vars(cls) and cls.__module__.split(".")[0].startswith("fastsnn"):
                    named |= set(inspect.signature(cls.__init__).parameters)
        repeated = named & set(spec.params.model_fields)
        if repeated:
            offenders.append(f"{spec.kind} {spec.name} ({spec.distribution}): {sorted(repeated)}")
    assert not offenders, "parameters declared twice (Params and __init__): " + "; ".join(offenders)


def test_what_info_shows_is_what_a_python_caller_gets(specs):
    runner = CliRunner()
    with use_plugins(entry_points=True):
        for spec in specs:
            if not inspect.isclass(spec.factory):
                continue
            required = {k: REQUIRED[k] for k, f in spec.params.model_fields.items() if f.is_required()}
            context = _context(spec)
            from_registry = fastsnn.create(spec.kind, spec.qualified_name, **context, **required)
            from_python = spec.factory(**context, **required)
            assert from_python.params == from_registry.params, f"{spec.kind} {spec.name}"
            shown = json.loads(runner.invoke(cli, ["info", spec.kind, spec.qualified_name, "--json"]).output)
            for name, schema in shown["params"]["properties"].items():
                if "default" in schema:
                    got = from_python.params.model_dump(mode="json")[name]
                    assert got == schema["default"], f"{spec.kind} {spec.name}.{name}: info says {schema['default']!r}"
