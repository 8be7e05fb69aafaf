"""The plugin contract: one hook per component kind, each receiving a ``register`` callback.

A plugin is a module (or object) with functions decorated by :data:`fastsnn.hookimpl` whose
names are the hooks below. Each ``fastsnn_register_*`` hook gets a callback::

    register(name, factory, *, params=None, description=None, version=None)

- ``name`` — the component's name, unique within its kind (``"swa"``).
- ``factory`` — usually a class deriving from the kind's base (``fastsnn.SpikingNeuron``,
  ``fastsnn.AttentionBase``, ...; see :mod:`fastsnn.kind_table`). The registry checks the contract
  when the plugin loads: a class that is not a subclass of the base, or leaves one of its abstract
  methods unimplemented, is refused and the plugin reported broken (naming the component and the
  missing method). A factory function is allowed too; what it returns is checked when built.
- The factory is called as ``factory(**context, params=validated)``: ``context`` are the
  arguments the model builder supplies for this kind (e.g. ``d_model`` and ``n_heads`` for
  attention), ``validated`` is an instance of the component's ``Params`` — validated once, by
  the registry. Declare each hyperparameter once, in the nested ``Params`` class (a
  :class:`fastsnn.Params`); the kind's base class stores it as ``self.params``.
- ``params`` — overrides the ``Params`` model (needed only for factory functions).
- ``description`` — one line; defaults to the first line of the factory's docstring.

A plugin may also declare new kinds with :func:`fastsnn_register_kinds` (pytest's
``pytest_addhooks`` idea): the kind's hook becomes part of the contract for every plugin.

Declare the plugin API your plugin was written for as ``PLUGIN_API_VERSION = "2.0"`` in the
plugin module; a different major version is reported and the plugin is not loaded.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("fastsnn")
hookimpl = pluggy.HookimplMarker("fastsnn")

Register = Callable[..., None]


@hookspec
def fastsnn_register_kinds(register: Register) -> None:
    """Declare new component kinds (before any component is registered).

    :param register: ``register(name, *, hook, description, context=(), optional_context=(),
        built_context=None, base=None, required=(), providers=None)`` — the fields of
        :class:`fastsnn.kind_table.Kind`. ``hook`` must be ``fastsnn_register_<plural>``; every plugin
        (including this one) can then implement it to register components of the new kind.
    """


@hookspec
def fastsnn_register_neurons(register: Register) -> None:
    """Register spiking neurons (kind ``neuron``): modules mapping real inputs to spike counts.

    :param register: ``register(name, factory, params=..., description=...)``; the factory is a
        :class:`fastsnn.SpikingNeuron` subclass (it must implement ``spikes``).
    """


@hookspec
def fastsnn_register_surrogates(register: Register) -> None:
    """Register surrogate gradients (kind ``surrogate``): :class:`fastsnn.Surrogate` subclasses
    (``derivative`` and ``primitive``; the base gives ``heaviside`` and ``round`` spike functions).

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_codings(register: Register) -> None:
    """Register spike codings (kind ``coding``): :class:`fastsnn.SpikeCoding` subclasses that convert
    counts to event trains and back, exactly; :class:`fastsnn.IntegrateFireCoding` ones also run in
    event mode.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_attention(register: Register) -> None:
    """Register token mixers (kind ``attention``): :class:`fastsnn.AttentionBase` subclasses, built as
    ``Layer(d_model, n_heads, layer_idx=..., max_seq_len=..., params=...)``; they implement
    ``mix`` and ``init_cache`` (the base does the cache checks and position bookkeeping).

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_layouts(register: Register) -> None:
    """Register per-layer attention layouts (kind ``layout``): ``factory(n_layers=..., params=...)``
    returns one attention reference (a name or ``{"name": ..., **params}``) per layer.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_ffn(register: Register) -> None:
    """Register feed-forward blocks (kind ``ffn``): ``factory(d_model=..., d_ff=..., neuron=..., params=...)``
    returns an ``nn.Module`` mapping ``[..., d_model]`` to ``[..., d_model]``; ``neuron`` is the
    built spiking neuron module (the builder makes it from the config).

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_norms(register: Register) -> None:
    """Register normalisation layers (kind ``norm``): ``factory(dim=..., params=...)`` → ``nn.Module``.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_conversion_rules(register: Register) -> None:
    """Register ANN→SNN conversion rules (kind ``rule``): :class:`fastsnn.ConversionRule` subclasses
    that say which modules they match and what replaces them.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_exporters(register: Register) -> None:
    """Register exporters (kind ``exporter``): :class:`fastsnn.Exporter` subclasses with
    ``export(model, path, metadata) -> list[Path]``.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_benchmarks(register: Register) -> None:
    """Register benchmarks (kind ``benchmark``) run by ``fastsnn bench NAME``: :class:`fastsnn.Benchmark`
    subclasses with ``run(progress) -> list[dict]`` of result rows.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_commands(cli: Any) -> None:
    """Add commands to the ``fastsnn`` CLI.

    :param cli: the root :class:`click.Group`; call ``cli.add_command(...)`` or decorate with
        ``@cli.command()``.
    """


def kind_hookspec(hook: str, kind: str, description: str) -> type:
    """A hookspec holder for a kind declared by a plugin (what ``pm.add_hookspecs`` takes)."""

    def spec(register: Register) -> None: ...

    spec.__name__ = spec.__qualname__ = hook
    spec.__doc__ = f"Register components of kind ``{kind}`` ({description}).\n\n:param register: the register callback."
    return type(f"Kind_{kind}", (), {hook: staticmethod(hookspec(spec))})
