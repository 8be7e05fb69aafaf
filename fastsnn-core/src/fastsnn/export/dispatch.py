"""``export_model``: a model → files in a registered format, with every check before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from fastsnn.errors import FastSNNError
from fastsnn.plugins import get_registry


def formats_that_can_carry(model: nn.Module, *, skip: str | None = None) -> list[str]:
    """The registered exporters (other than ``skip``) that report nothing unsupported in ``model``."""
    registry = get_registry()
    able = []
    for spec in registry.specs("exporter"):
        if spec.name == skip:
            continue
        try:
            if not registry.create("exporter", spec.name).unsupported(model):
                able.append(spec.name)
        except Exception:  # an exporter that cannot even judge cannot carry it
            continue
    return able


def check_exportable(model: nn.Module, format_name: str, writer: Any) -> None:
    """:raises FastSNNError: ``writer`` cannot carry part of ``model``: every such module is named,
    and so are the formats that can carry the model."""
    problems = writer.unsupported(model)
    if problems:
        able = formats_that_can_carry(model, skip=format_name)
        raise FastSNNError(
            f"format {format_name!r} cannot carry this model:\n  " + "\n  ".join(problems)
            + "\n" + (f"formats that can: {', '.join(able)}" if able else "no registered format can carry it")
        )


def export_model(model: nn.Module, format_name: str, out: str | Path, *, metadata: dict[str, Any] | None = None,
                 quantize: str | None = None, group_size: int | None = None, kv_cache: str | None = None,
                 params: dict[str, Any] | None = None, writer: Any = None) -> list[Path]:
    """Write ``model`` to ``out`` with the registered exporter ``format_name``; returns the files.

    :param quantize: ``"w8"`` quantises the weights first (:func:`fastsnn.quantize.quantize_model`,
        in place), with ``group_size`` (None: per channel); ``kv_cache="int8"`` records an int8
        decoding cache.
    :param params: the exporter's own parameters (``fastsnn info exporter NAME``).
    :param writer: the exporter already built from ``format_name`` and ``params`` (its ``notes``
        are there to read afterwards); default: built here.
    :raises FastSNNError: an unknown format (did-you-mean), bad exporter params, a destination that
        cannot be written, or parts of the model the format cannot carry — all before any work.
    """
    from fastsnn.quantize import quantize_model
    from fastsnn.safe_io import check_writable_destination

    if writer is None:
        writer = get_registry().create("exporter", format_name, **(params or {}))
    out = check_writable_destination(out, "--out")
    check_exportable(model, format_name, writer)
    if quantize is not None or kv_cache is not None:
        quantize_model(model, quantize, group_size=group_size, kv_cache=kv_cache)
        check_exportable(model, format_name, writer)  # e.g. int8 layers a format has no node for
    return writer.export(model, out, metadata)
