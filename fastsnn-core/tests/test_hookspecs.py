"""Meta-tests of the plugin contract (datasette style): every hook documented and exercised."""

import inspect
import types

import click
import pytest
import torch
from pydantic import Field
from torch import nn

import fastsnn
from fastsnn import hookimpl, hookspecs
from fastsnn.kind_table import CORE_KINDS, missing_members
from fastsnn.testing import use_plugins
from toy_plugins import HalfNeuron

HOOKS = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("fastsnn_")]
CONTEXT = {"d_model": 8, "n_heads": 2, "layer_idx": 0, "max_seq_len": 16, "n_layers": 2, "dim": 8, "d_ff": 16,
           "neuron": "half"}


def test_every_hook_is_a_kind_hook_or_the_commands_or_kinds_hook():
    assert set(HOOKS) == {k.hook for k in CORE_KINDS} | {"fastsnn_register_commands", "fastsnn_register_kinds"}


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_typed_documented_signature(hook):
    fn = getattr(hookspecs, hook)
    doc = inspect.getdoc(fn)
    assert doc and ":param" in doc
    params = inspect.signature(fn).parameters
    assert len(params) == 1 and all(p.annotation is not inspect.Parameter.empty for p in params.values())


def thing_for(kind: fastsnn.Kind):
    """The smallest component honouring ``kind``'s contract, with one parameter ``size``."""

    class Params(fastsnn.Params):
        size: int = Field(1, description="a size")

    base = kind.base_class()
    if base is None:  # a factory function (layouts)
        def make_layout(n_layers, *, params):
            return ["thing"] * n_layers

        make_layout.__doc__ = "A do-nothing component."
        return make_layout, Params
    body = {"Params": Params, "__doc__": "A do-nothing component."}
    for name in set(missing_members(base, kind)):
        body[name] = lambda self, *a, **k: None
    if issubclass(base, nn.Module) and not issubclass(base, fastsnn.Component):
        def __init__(self, *, params=None, **kwargs):
            nn.Module.__init__(self)
            self.init_params(params, {k: v for k, v in kwargs.items() if k not in kind.all_context})

        return type("Thing", (fastsnn.Component, base), {**body, "__init__": __init__}), None
    return type("Thing", (base,), body), None


@pytest.mark.parametrize("kind", CORE_KINDS, ids=[k.name for k in CORE_KINDS])
def test_every_kind_hook_registers_into_its_kind(kind):
    factory, params = thing_for(kind)

    def impl(register):
        register(f"thing_{kind.name}", factory, params=params)

    impl.__name__ = kind.hook
    plugin = types.ModuleType(f"plugin_{kind.name}")
    setattr(plugin, kind.hook, hookimpl(impl))
    neuron_plugin = types.ModuleType("neurons")
    neuron_plugin.fastsnn_register_neurons = hookimpl(lambda register: register("half", HalfNeuron))
    neuron_plugin.fastsnn_register_neurons.__name__ = "fastsnn_register_neurons"
    with use_plugins(plugin, ("neurons", _neuron_plugin())):
        (entry,) = [c for c in fastsnn.components(kind.name) if c["name"] == f"thing_{kind.name}"]
        context = {k: v for k, v in CONTEXT.items() if k in kind.all_context}
        built = fastsnn.create(kind.name, f"thing_{kind.name}", size=3, **context)
    assert entry["kind"] == kind.name and entry["description"] == "A do-nothing component."
    if kind.base is None:
        assert built == ["thing", "thing"]
    else:
        assert built.params.size == 3


def _neuron_plugin():
    mod = types.ModuleType("neurons")

    @hookimpl
    def fastsnn_register_neurons(register):
        register("half", HalfNeuron)

    mod.fastsnn_register_neurons = fastsnn_register_neurons
    return mod


def test_kinds_hook_declares_a_kind_that_any_plugin_can_fill():
    class Shape(fastsnn.Component):
        """Contract of the new kind: an area."""

        def __init__(self, *, params=None, **values):
            self.init_params(params, values)

        def area(self) -> float:
            raise NotImplementedError

    class Square(Shape):
        """A square."""

        class Params(fastsnn.Params):
            side: float = Field(1.0, gt=0)

        def area(self):
            return self.params.side**2

    declares = types.ModuleType("z_declares")  # loads after the filler: order must not matter

    @hookimpl
    def fastsnn_register_kinds(register):
        register("shape", hook="fastsnn_register_shapes", description="shapes with an area")

    declares.fastsnn_register_kinds = fastsnn_register_kinds
    fills = types.ModuleType("a_fills")

    @hookimpl
    def fastsnn_register_shapes(register):
        register("square", Square)

    fills.fastsnn_register_shapes = fastsnn_register_shapes
    with use_plugins(fills, declares) as manager:
        assert "shape" in fastsnn.kinds()
        assert fastsnn.create("shape", "square", side=3.0).area() == 9.0
        assert manager.plugins["z_declares"].kinds == ["shape"]
        with pytest.raises(fastsnn.UnknownComponentError, match="did you mean 'square'"):
            fastsnn.create("shape", "squar")


def test_commands_hook_adds_a_cli_command():
    @hookimpl
    def fastsnn_register_commands(cli):
        @cli.command(name="hello-from-plugin")
        def hello():
            click.echo("hi")

    plugin = types.ModuleType("cmd_plugin")
    plugin.fastsnn_register_commands = fastsnn_register_commands
    group = click.Group()
    with use_plugins(plugin) as manager:
        manager.register_commands(group)
    assert "hello-from-plugin" in group.commands


def test_toy_neuron_runs():
    with use_plugins(("neurons", _neuron_plugin())):
        neuron = fastsnn.create("neuron", "half", threshold=0.25)
    assert torch.equal(neuron(torch.tensor([0.3, -0.6])), torch.tensor([0.25, -0.5]))
