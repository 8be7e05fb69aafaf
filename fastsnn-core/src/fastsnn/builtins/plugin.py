"""Core's default plugin: FFNs, norms, the exporters (model folder, .snn, NIR, ONNX) and the deploy
benchmark, through the public hooks.

The plugin manager loads this module by its path, like any installed plugin.
"""

from __future__ import annotations

from fastsnn.builtins.ffn import PulseFFN, SwiGLUFFN
from fastsnn.builtins.norms import LayerNorm, RMSNorm
from fastsnn.deploy_benchmark import DeployBenchmark
from fastsnn.export.nir_graph import NIRExporter
from fastsnn.export.onnx_graph import ONNXExporter
from fastsnn.export.safetensors_exporter import SafetensorsExporter
from fastsnn.export.snn_exporter import SnnExporter
from fastsnn.hookspecs import hookimpl

PLUGIN_API_VERSION = "2.0"


@hookimpl
def fastsnn_register_ffn(register):
    register("pulse", PulseFFN)
    register("swiglu", SwiGLUFFN)


@hookimpl
def fastsnn_register_norms(register):
    register("rmsnorm", RMSNorm)
    register("layernorm", LayerNorm)


@hookimpl
def fastsnn_register_exporters(register):
    register("folder", SafetensorsExporter)
    register("safetensors", SafetensorsExporter, description="the model folder (same as 'folder')")
    register("snn", SnnExporter)
    register("nir", NIRExporter)
    register("onnx", ONNXExporter)


@hookimpl
def fastsnn_register_benchmarks(register):
    register("deploy", DeployBenchmark)
