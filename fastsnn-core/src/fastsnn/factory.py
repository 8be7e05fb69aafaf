"""The public factory: build any registered component by kind and name, or list them."""

from __future__ import annotations

from typing import Any

from fastsnn.plugins import get_registry
from fastsnn.registry import KIND_HOOKS


def create(kind: str, name: str, /, **params: Any) -> Any:
    """Build a registered component, e.g. ``create("attention", "swa", d_model=128, n_heads=4, window=64)``.

    ``params`` are validated by the component's ``Params`` model (unknown or wrong values raise a
    :class:`fastsnn.FastSNNError` saying which); builder context for the kind (``d_model``,
    ``n_heads`` … see :data:`fastsnn.registry.KIND_CONTEXT`) is passed through.
    """
    return get_registry().create(kind, name, **params)


def build_ref(kind: str, ref: Any, **context: Any) -> Any:
    """Build from a config reference: a name, a ``{"name": ..., **params}`` dict or a ComponentRef."""
    from fastsnn.config.refs import ComponentRef

    if isinstance(ref, ComponentRef):
        return ref.build(**context)
    if isinstance(ref, str):
        return create(kind, ref, **context)
    if isinstance(ref, dict):
        if "name" not in ref:
            from fastsnn.errors import FastSNNError

            raise FastSNNError(f"a {kind} reference needs a 'name', got {ref!r}")
        params = {k: v for k, v in ref.items() if k != "name"}
        return create(kind, ref["name"], **context, **params)
    return ref  # already a module/object


def components(kind: str | None = None) -> list[dict[str, Any]]:
    """What is registered: one dict per component (kind, name, plugin, distribution, description,
    version, params JSON schema), sorted by kind then name."""
    return [spec.as_dict() for spec in get_registry().specs(kind)]


def kinds() -> list[str]:
    """The component kinds plugins can register."""
    return list(KIND_HOOKS)
