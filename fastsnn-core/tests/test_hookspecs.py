"""Meta-tests of the plugin contract (datasette style): every hook documented and exercised."""

import inspect
import types

import click
import pytest
from pydantic import BaseModel, ConfigDict

import fastsnn
from fastsnn import hookimpl, hookspecs
from fastsnn.registry import KIND_HOOKS
from fastsnn.testing import use_plugins

HOOKS = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("fastsnn_")]


def test_every_hook_is_a_kind_hook_or_the_commands_hook():
    assert set(HOOKS) == set(KIND_HOOKS.values()) | {"fastsnn_register_commands"}


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_typed_documented_signature(hook):
    fn = getattr(hookspecs, hook)
    doc = inspect.getdoc(fn)
    assert doc and ":param" in doc
    params = inspect.signature(fn).parameters
    assert len(params) == 1 and all(p.annotation is not inspect.Parameter.empty for p in params.values())


class Thing:
    """A do-nothing component."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        size: int = 1

    def __init__(self, size=1, **context):
        self.size, self.context = size, context


@pytest.mark.parametrize(("kind", "hook"), sorted(KIND_HOOKS.items()))
def test_every_kind_hook_registers_into_its_kind(kind, hook):
    def impl(register):
        register(f"thing_{kind}", Thing)

    impl.__name__ = hook
    plugin = types.ModuleType(f"plugin_{kind}")
    setattr(plugin, hook, hookimpl(impl))
    with use_plugins(plugin):
        (entry,) = [c for c in fastsnn.components(kind) if c["name"] == f"thing_{kind}"]
        built = fastsnn.create(kind, f"thing_{kind}", size=3)
    assert entry["kind"] == kind and entry["description"] == "A do-nothing component."
    assert built.size == 3


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
