"""The public factory: build any registered component by kind and name, or list them."""

from __future__ import annotations

from typing import Any

from fastsnn.plugins import get_registry


def create(kind: str, name: str, /, **params: Any) -> Any:
    """Build a registered component, e.g. ``create("attention", "swa", d_model=128, n_heads=4, window=64)``.

    ``params`` are validated by the component's ``Params`` model; builder context for the kind
    (``d_model``, ``n_heads`` … see ``fastsnn.kind_table``) is passed through.

    :raises FastSNNError: unknown kind or name (with "did you mean" and what to install), missing
        context, invalid params, or a factory that failed (naming the component and its plugin).
    """
    return get_registry().create(kind, name, **params)


def build_ref(kind: str, ref: Any, **context: Any) -> Any:
    """Build from a config reference — a name, a ``{"name": ..., **params}`` mapping or a
    ComponentRef — with the builder's ``context``; an already built object is returned as it is."""
    return get_registry().build_ref(kind, ref, **context)


def components(kind: str | None = None) -> list[dict[str, Any]]:
    """What is registered: one dict per component (kind, name, plugin, distribution, description,
    version, params JSON schema), sorted by kind then name."""
    return [spec.as_dict() for spec in get_registry().specs(kind)]


def kinds() -> list[str]:
    """The component kinds plugins can register (core's and those plugins declared)."""
    return list(get_registry().kinds)
