"""The plugin contract: one hook per component kind, each receiving a ``register`` callback.

A plugin is a module (or object) with functions decorated by :data:`fastsnn.hookimpl` whose
names are the hooks below. Each ``fastsnn_register_*`` hook gets a callback::

    register(name, factory, *, params=None, description=None, version=None)

- ``name`` — the component's name, unique within its kind (``"swa"``).
- ``factory`` — a class or callable building the component. It is called as
  ``factory(**context, **params)`` where ``params`` are the validated fields of the ``Params``
  model and ``context`` are the arguments that the model builder supplies for this kind
  (see :data:`fastsnn.registry.KIND_CONTEXT`, e.g. ``d_model`` and ``n_heads`` for attention).
- ``params`` — a pydantic model of the component's own hyperparameters. Defaults to
  ``factory.Params`` if the factory has one, else no parameters. Extra fields are forbidden.
- ``description`` — one line; defaults to the first line of the factory's docstring.

Declare the plugin API your plugin was written for as ``PLUGIN_API_VERSION = "1.0"`` in the
plugin module; a different major version is reported and the plugin is not loaded.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("fastsnn")
hookimpl = pluggy.HookimplMarker("fastsnn")

Register = Callable[..., None]


@hookspec
def fastsnn_register_neurons(register: Register) -> None:
    """Register spiking neurons (kind ``neuron``): modules mapping real inputs to spike counts.

    :param register: ``register(name, factory, params=..., description=...)``; the factory takes
        only its params and returns an ``nn.Module`` (ideally a :class:`fastsnn.SpikingNeuron`).
    """


@hookspec
def fastsnn_register_surrogates(register: Register) -> None:
    """Register surrogate gradients (kind ``surrogate``): ``factory(**params)`` returns a callable
    ``f(x) -> spikes`` with a custom backward.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_codings(register: Register) -> None:
    """Register spike codings (kind ``coding``): ``factory(**params)`` returns a
    :class:`fastsnn.SpikeCoding` that converts counts to event trains and back, exactly.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_attention(register: Register) -> None:
    """Register token mixers (kind ``attention``): ``factory(d_model, n_heads, layer_idx,
    max_seq_len, **params)`` returns a :class:`fastsnn.AttentionBase` module.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_layouts(register: Register) -> None:
    """Register per-layer attention layouts (kind ``layout``): ``factory(n_layers, **params)``
    returns one attention reference (a name or ``{"name": ..., **params}``) per layer.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_ffn(register: Register) -> None:
    """Register feed-forward blocks (kind ``ffn``): ``factory(d_model, d_ff, neuron, **params)``
    returns an ``nn.Module`` mapping ``[..., d_model]`` to ``[..., d_model]``; ``neuron`` is a
    component reference for the spiking activation.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_norms(register: Register) -> None:
    """Register normalisation layers (kind ``norm``): ``factory(dim, **params)``.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_conversion_rules(register: Register) -> None:
    """Register ANN→SNN conversion rules (kind ``rule``): ``factory(**params)`` returns a
    :class:`fastsnn.ConversionRule` that says which modules it matches and what replaces them.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_exporters(register: Register) -> None:
    """Register exporters (kind ``exporter``): ``factory(**params)`` returns an object with
    ``export(model, path, metadata) -> list[Path]``.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_benchmarks(register: Register) -> None:
    """Register benchmarks (kind ``benchmark``) run by ``fastsnn bench NAME``: ``factory(**params)``
    returns a callable ``run(progress) -> list[dict]`` of result rows.

    :param register: the register callback.
    """


@hookspec
def fastsnn_register_commands(cli: Any) -> None:
    """Add commands to the ``fastsnn`` CLI.

    :param cli: the root :class:`click.Group`; call ``cli.add_command(...)`` or decorate with
        ``@cli.command()``.
    """
