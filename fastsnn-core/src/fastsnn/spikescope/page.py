"""SpikeScope's HTML report: one self-contained page (plots embedded as base64 PNG, inline CSS,
no script, no network), for one model or two side by side. Built with the standard library
(:class:`string.Template`, :func:`html.escape`)."""

from __future__ import annotations

import base64
import html
from string import Template
from typing import Any

from fastsnn.spikescope.energy import ENERGY_SOURCE
from fastsnn.spikescope.report import ScopeReport

PLOT_TITLES = {
    "firing": "Firing rate, sparsity, silent and saturated units per layer",
    "histograms": "Spike-count histograms",
    "steps": "Time steps per coding",
    "energy": "Energy proxy: dense MACs against spike ACs",
}

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.models { display: grid; grid-template-columns: repeat($columns, minmax(0, 1fr)); gap: 1.5em; }
.model { min-width: 0; overflow-x: auto; }
figure { margin: 0.5em 0 1.2em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.notice { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.5em 0.8em; }
.muted { color: #666; font-size: 0.85em; }
</style>
</head>
<body>
<h1>$title</h1>
<p class="muted">FastSNN $version · SpikeScope · every figure below is measured on the inputs named here.</p>
$notices
$comparison
<div class="models">
$models
</div>
<h2>Energy table</h2>
$energy_table
</body>
</html>
""")


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 1e5 or (value and abs(value) < 1e-3):
        return f"{value:.{digits}e}"
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary_rows(report: ScopeReport) -> list[tuple[str, str]]:
    s = report.summary()
    e = report.energy
    return [
        ("model", html.escape(report.model)),
        ("batches · input values", f"{report.batches:,} · {report.inputs:,}"),
        ("spiking layers", str(s["spiking_layers"])),
        ("mean firing rate (spikes/value)", _num(s["firing_rate"])),
        ("mean sparsity", _pct(s["sparsity"])),
        ("mean silent units", _pct(s["silent"])),
        ("mean saturated units", _pct(s["saturated"])),
        ("ACs counted under", html.escape(report.coding)),
        ("MACs (all weight layers)", _num(e.macs)),
        ("ACs (spike-fed layers)", _num(e.acs)),
        ("energy, dense FP16 (pJ)", _num(e.dense_fp16_pj)),
        ("energy, dense INT8 (pJ)", _num(e.dense_int8_pj)),
        ("energy, spiking (pJ)", _num(e.spiking_pj)),
        ("saving vs dense FP16", _pct(e.saving)),
    ]


def _model_section(report: ScopeReport, images: dict[str, str]) -> str:
    parts = [f"<section class=\"model\"><h2>{html.escape(report.name)}</h2>"]
    parts += [f"<p class=\"notice\">{html.escape(note)}</p>" for note in report.notes]
    parts.append(_table(["measure", "value"], [[k, v] for k, v in _summary_rows(report)]))
    for key, title in PLOT_TITLES.items():
        if key in images:
            parts.append(f"<figure><img alt=\"{html.escape(title)}: {html.escape(report.name)}\" "
                         f"src=\"data:image/png;base64,{images[key]}\"><figcaption>{html.escape(title)}"
                         "</figcaption></figure>")
    if report.layers:
        codings = sorted({name for layer in report.layers for name in layer.codings})
        rows = []
        for layer in report.layers:
            lo, hi = layer.count_range
            steps = []
            for name in codings:
                c = layer.codings.get(name)
                steps.append("–" if c is None or c.steps is None else f"{c.steps} ({_num(c.events)} ev)")
            rows.append([html.escape(layer.name), html.escape(layer.neuron), f"{layer.units:,}",
                         _num(layer.firing_rate), _pct(layer.sparsity), _pct(layer.silent), _pct(layer.saturated),
                         f"{lo}…{hi}", *steps])
        parts.append("<h3>Spiking layers</h3>")
        parts.append(_table(["layer", "neuron", "units", "spikes/value", "sparsity", "silent", "saturated",
                             "counts", *(f"T {c}" for c in codings)], rows))
    if report.ops:
        table = report.energy.table
        rows = [[html.escape(op.name), op.kind, html.escape(op.fed_by or "float input"), _num(op.fan_out, 1),
                 _num(op.macs), _num(op.acs), _num(op.macs * table["mac_fp16"]),
                 _num(op.acs * table["add_int8"] if op.acs is not None else op.macs * table["mac_fp16"])]
                for op in report.ops]
        parts.append("<h3>Weight layers</h3>")
        parts.append(_table(["layer", "kind", "fed by", "fan-out", "MACs", "ACs", "dense pJ", "spiking pJ"], rows))
    parts.append("</section>")
    return "\n".join(parts)


def _comparison(reports: list[ScopeReport]) -> str:
    if len(reports) < 2:
        return ""
    rows = [[label] for label, _ in _summary_rows(reports[0])]
    for report in reports:
        for row, (_, value) in zip(rows, _summary_rows(report)):
            row.append(value)
    return "<h2>Side by side</h2>" + _table(["measure", *(r.name for r in reports)], rows)


def _energy_table(reports: list[ScopeReport]) -> str:
    table = reports[0].energy.table
    described = {"mac_fp16": "FP16 multiply-accumulate (dense layers)",
                 "mac_int8": "INT8 multiply-accumulate (quantised reference)",
                 "add_int8": "INT8 add: one accumulate (AC) per spike event per fan-out"}
    rows = [[html.escape(k), html.escape(described.get(k, k)), _num(v, 3)] for k, v in table.items()]
    return (_table(["operation", "what it costs", "pJ"], rows)
            + f"<p class=\"muted\">Defaults: {html.escape(ENERGY_SOURCE)}. ACs = nonzero spike events × fan-out of "
            "the layer reading them; only linear and convolution layers are counted (not attention's score "
            "products, norms or memory traffic): a proxy for comparing models, not a measurement.</p>")


def render_html(reports: list[ScopeReport], images: list[dict[str, bytes]], notices: list[str], version: str) -> str:
    """The page for ``reports`` (one, or two side by side) with their PNG ``images`` (one dict per
    report, plot name → bytes; empty when plots were not drawn) and page-level ``notices``."""
    encoded = [{k: base64.b64encode(v).decode("ascii") for k, v in imgs.items()} for imgs in images]
    title = "SpikeScope: " + " vs ".join(r.name for r in reports)
    return PAGE.substitute(
        title=html.escape(title), version=html.escape(version), columns=len(reports),
        notices="\n".join(f"<p class=\"notice\">{html.escape(n)}</p>" for n in notices),
        comparison=_comparison(reports),
        models="\n".join(_model_section(r, imgs) for r, imgs in zip(reports, encoded)),
        energy_table=_energy_table(reports),
    )


__all__ = ["PLOT_TITLES", "render_html"]
