"""Writing a SpikeScope report folder: ``report.html``, ``scope.json`` and the PNG plots, all at once.

The folder is written by :func:`fastsnn.safe_io.write_directory_atomically` (staged beside it,
then renamed), so a failed or killed run leaves no half report and an earlier report stays whole
until the new one replaces it. Everything is checked before any work: the destination must be
writable, and an existing folder must be empty or an earlier SpikeScope report (nothing else in
it is ever deleted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fastsnn.errors import FastSNNError
from fastsnn.model_folder import fastsnn_version
from fastsnn.safe_io import check_writable_destination, json_bytes, write_directory_atomically
from fastsnn.spikescope.page import render_html
from fastsnn.spikescope.plots import PlotsUnavailable, draw_plots
from fastsnn.spikescope.report import ScopeReport

HTML_FILE = "report.html"
JSON_FILE = "scope.json"


@dataclass
class WrittenReport:
    """What :func:`write_report` wrote: the folder, its files, and notices (e.g. plots skipped)."""

    folder: Path
    files: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def html(self) -> Path:
        return self.folder / HTML_FILE


def check_report_folder(out: str | Path) -> Path:
    """Check, before any work, that ``out`` can take a report.

    :raises FastSNNError: a parent is a file or not writable, or ``out`` is a file or a folder
        holding something other than an earlier SpikeScope report.
    """
    out = check_writable_destination(out, "--out")
    if out.exists():
        if not out.is_dir():
            raise FastSNNError(f"--out {out} is a file; give a folder for the report")
        if not os.access(out.parent, os.W_OK | os.X_OK):
            raise FastSNNError(f"--out {out}: {out.parent} is not writable, so the report cannot replace it; "
                               "choose another path")
        if any(out.iterdir()) and not (out / JSON_FILE).is_file():
            raise FastSNNError(f"--out {out} is a folder that holds other files (no {JSON_FILE} of an earlier report); "
                               "choose a new or empty folder")
    return out


def _prefix(i: int, count: int) -> str:
    return f"model{i + 1}_" if count > 1 else ""


def write_report(out: str | Path, *reports: ScopeReport, plots: bool = True) -> WrittenReport:
    """Write ``reports`` (one, or two for a side-by-side comparison) into the folder ``out``.

    Files: ``report.html`` (self-contained: plots embedded), ``scope.json`` (one report: its
    :meth:`ScopeReport.to_dict`; several: ``{"reports": [...]}``) and the PNGs (``firing.png``,
    ``histograms.png``, ``steps.png``, ``energy.png``; prefixed ``model1_``/``model2_`` when
    comparing). Without matplotlib the PNGs are skipped, the rest is written, and the notice says
    what to install.

    :raises FastSNNError: no report given, or ``out`` unusable (:func:`check_report_folder`).
    """
    if not reports:
        raise FastSNNError("write_report needs at least one ScopeReport")
    folder = check_report_folder(out)
    notices: list[str] = []
    images: list[dict[str, bytes]] = [{} for _ in reports]
    if plots:
        try:
            images = [draw_plots(report) for report in reports]
        except PlotsUnavailable as err:
            notices.append(f"{err}. The JSON and this page were written without plots.")
    files: dict[str, bytes] = {}
    for i, imgs in enumerate(images):
        for key, data in imgs.items():
            files[f"{_prefix(i, len(reports))}{key}.png"] = data
    data = reports[0].to_dict() if len(reports) == 1 else {"reports": [r.to_dict() for r in reports]}
    files[JSON_FILE] = json_bytes({**data, "notices": notices})
    files[HTML_FILE] = render_html(list(reports), images, notices, fastsnn_version()).encode("utf-8")
    try:
        write_directory_atomically(folder, files)
    except OSError as err:
        raise FastSNNError(f"--out {folder}: the report could not be written ({err.strerror or err}); "
                           "nothing was changed; choose a writable folder") from None
    return WrittenReport(folder=folder, files=sorted(files), notices=notices)


__all__ = ["HTML_FILE", "JSON_FILE", "WrittenReport", "check_report_folder", "write_report"]
