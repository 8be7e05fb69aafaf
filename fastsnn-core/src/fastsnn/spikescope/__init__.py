"""SpikeScope: look inside a spiking network — per-layer firing rates, sparsity, spike-count
histograms, silent/saturated units, time steps per coding and a MAC/AC energy proxy, as PNG plots,
a self-contained HTML page and JSON.

>>> report = fastsnn.scope(model, batches)                  # doctest: +SKIP
>>> fastsnn.spikescope.write_report("scope-out", report)     # doctest: +SKIP

One module per idea: :mod:`~fastsnn.spikescope.collect` (running the inputs, through the trainer's
:class:`~fastsnn.train.spike_monitor.SpikeMonitor`), :mod:`~fastsnn.spikescope.steps` (steps and
events per coding), :mod:`~fastsnn.spikescope.energy` (operations and the pJ table),
:mod:`~fastsnn.spikescope.report` (the result), :mod:`~fastsnn.spikescope.plots` (matplotlib,
optional), :mod:`~fastsnn.spikescope.page` (HTML) and :mod:`~fastsnn.spikescope.output` (the folder).
"""

from fastsnn.spikescope.collect import UNARY, scope
from fastsnn.spikescope.energy import ENERGY_SOURCE, EnergySummary, EnergyTable, LayerOps
from fastsnn.spikescope.output import HTML_FILE, JSON_FILE, WrittenReport, check_report_folder, write_report
from fastsnn.spikescope.plots import INSTALL_HINT, PlotsUnavailable
from fastsnn.spikescope.report import LayerScope, ScopeReport
from fastsnn.spikescope.steps import CodingSteps

__all__ = ["ENERGY_SOURCE", "HTML_FILE", "INSTALL_HINT", "JSON_FILE", "UNARY", "CodingSteps", "EnergySummary",
           "EnergyTable", "LayerOps", "LayerScope", "PlotsUnavailable", "ScopeReport", "WrittenReport",
           "check_report_folder", "scope", "write_report"]
