"""SpikeScope's PNG plots, drawn with matplotlib (the optional extra ``fastsnn-core[scope]``).

matplotlib is imported only here, only when plots are drawn; without it :func:`draw_plots` raises
:class:`PlotsUnavailable` and the report is written without pictures. Figures are built with the
object API (``matplotlib.figure.Figure`` on the Agg canvas), never ``pyplot``, so nothing global
(a backend, an open-figure list) is touched.
"""

from __future__ import annotations

import io
import math
from typing import Any

from fastsnn.spikescope.report import ScopeReport

#: what to run to get the plots
INSTALL_HINT = 'pip install "fastsnn-core[scope]"'
#: at most this many layers get a histogram panel (the rest are listed in the report's tables)
MAX_HISTOGRAMS = 16
_BLUE, _ORANGE, _GREEN, _RED, _GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"


class PlotsUnavailable(ImportError):
    """matplotlib is not installed; the message says how to install it."""


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotsUnavailable(f"plots need matplotlib, which is not installed: {INSTALL_HINT}") from None
    return Figure


def draw_plots(report: ScopeReport) -> dict[str, bytes]:
    """The report's plots as PNG bytes: ``firing``, ``histograms``, ``steps`` and ``energy`` (each
    only when there is something to draw; a model without spiking layers gets the energy plot alone).

    :raises PlotsUnavailable: matplotlib is not installed.
    """
    figure = _figure_class()
    plots = {}
    if report.layers:
        plots["firing"] = _png(_firing(figure, report))
        plots["histograms"] = _png(_histograms(figure, report))
        if any(c.steps for layer in report.layers for c in layer.codings.values()):
            plots["steps"] = _png(_steps(figure, report))
    if report.ops:
        plots["energy"] = _png(_energy(figure, report))
    return plots


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _firing(figure: type, report: ScopeReport) -> Any:
    layers = report.layers
    names = [_short(layer.name) for layer in layers]
    height = max(3.0, 0.35 * len(layers) + 1.6)
    fig = figure(figsize=(10, height), layout="constrained")
    rate_ax, frac_ax = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(layers)))
    rate_ax.barh(ys, [layer.firing_rate for layer in layers], color=_BLUE)
    rate_ax.set_yticks(ys, names, fontsize=8)
    rate_ax.invert_yaxis()
    rate_ax.set_xlabel("spikes per value (mean |count|)")
    rate_ax.set_title("Firing rate")
    rate_ax.grid(axis="x", alpha=0.3)
    bar = 0.27
    for offset, key, color, label in ((-bar, "sparsity", _GREEN, "sparsity (zero counts)"),
                                      (0.0, "silent", _GREY, "silent units"),
                                      (bar, "saturated", _RED, "saturated units")):
        frac_ax.barh([y + offset for y in ys], [getattr(layer, key) for layer in layers], height=bar,
                     color=color, label=label)
    frac_ax.set_xlim(0, 1)
    frac_ax.set_xlabel("fraction")
    frac_ax.set_title("Sparsity, silent and saturated units")
    fig.legend(*frac_ax.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8)
    frac_ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{report.name}: {len(layers)} spiking layer(s), {report.inputs:,} input values")
    return fig


def _histograms(figure: type, report: ScopeReport) -> Any:
    layers = report.layers[:MAX_HISTOGRAMS]
    cols = min(4, len(layers))
    rows = math.ceil(len(layers) / cols)
    fig = figure(figsize=(max(6.0, 3.2 * cols + 0.6), 2.6 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, layer in zip(axes.flat, layers):
        edges, freqs, width = _binned(layer.histogram)
        ax.stairs(freqs, edges, fill=True, color=_BLUE)  # filled steps: no gaps drawn between narrow bars
        ax.set_yscale("log")
        ax.set_title(_short(layer.name, 34), fontsize=9)
        ax.set_xlabel("spike count" + (f" (bins of {width})" if width > 1 else ""), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(layers):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("values (log)", fontsize=8)
    more = len(report.layers) - len(layers)
    fig.suptitle("Spike-count histograms" + (f" (first {len(layers)} layers; {more} more in the tables)" if more else ""))
    return fig


def _binned(histogram: dict[int, int], max_bins: int = 200) -> tuple[list[float], list[int], int]:
    """``(edges, frequencies, bin width)``: one bin per integer count (centred on it) when the range
    is at most ``max_bins`` counts wide, else ``max_bins``-ish bins of equal integer width."""
    if not histogram:
        return [-0.5, 0.5], [0], 1
    lo, hi = min(histogram), max(histogram)
    width = max(1, math.ceil((hi - lo + 1) / max_bins))
    bins = (hi - lo) // width + 1
    freqs = [0] * bins
    for value, n in histogram.items():
        freqs[(value - lo) // width] += n
    return [lo - 0.5 + i * width for i in range(bins + 1)], freqs, width


def _steps(figure: type, report: ScopeReport) -> Any:
    layers = report.layers
    codings = sorted({name for layer in layers for name in layer.codings})
    fig = figure(figsize=(10, max(3.0, 0.35 * len(layers) + 1.6)), layout="constrained")
    ax = fig.subplots()
    ys = list(range(len(layers)))
    bar = 0.8 / max(len(codings), 1)
    colors = [_BLUE, _ORANGE, _GREEN, _RED, "#9467bd", "#8c564b", "#e377c2", _GREY]
    for i, coding in enumerate(codings):
        steps = [layer.codings[coding].steps if coding in layer.codings else None for layer in layers]
        bars = ax.barh([y - 0.4 + bar * (i + 0.5) for y in ys], [s or 0 for s in steps], height=bar,
                       color=colors[i % len(colors)], label=coding)
        if len(layers) * len(codings) <= 60:
            ax.bar_label(bars, labels=["–" if s is None else str(s) for s in steps], fontsize=7, padding=2)
    ax.set_yticks(ys, [_short(layer.name) for layer in layers], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time steps T to carry every count seen (–: the coding cannot carry them)")
    ax.set_title("Time steps per coding")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=min(len(codings), 6), fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _energy(figure: type, report: ScopeReport) -> Any:
    ops = report.ops
    table = report.energy.table
    fig = figure(figsize=(10, max(3.0, 0.35 * len(ops) + 1.8)), layout="constrained")
    ax = fig.subplots()
    ys = list(range(len(ops)))
    mac = [op.macs * table["mac_fp16"] for op in ops]
    spiking = [op.acs * table["add_int8"] if op.acs is not None else op.macs * table["mac_fp16"] for op in ops]
    ax.barh([y - 0.2 for y in ys], mac, height=0.4, color=_GREY, label=f"dense: FP16 MACs ({table['mac_fp16']} pJ)")
    ax.barh([y + 0.2 for y in ys], spiking, height=0.4, color=[_ORANGE if op.acs is not None else _BLUE for op in ops],
            label=f"spiking: ACs ({table['add_int8']} pJ, orange) or MACs (blue)")
    ax.set_yticks(ys, [_short(op.name) + (" (spike-fed)" if op.acs is not None else "") for op in ops], fontsize=8)
    ax.invert_yaxis()
    if any(v > 0 for v in mac + spiking):
        ax.set_xscale("log")
    ax.set_xlabel("energy over the run (pJ, log scale)")
    saving = report.energy.saving
    ax.set_title("Energy proxy per weight layer" + (f": {100 * saving:.1f}% less than dense FP16" if saving else ""))
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig


__all__ = ["INSTALL_HINT", "MAX_HISTOGRAMS", "PlotsUnavailable", "draw_plots"]
