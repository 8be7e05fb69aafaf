"""Core's default plugin: FFNs, norms and the safetensors exporter, through the public hooks.

The plugin manager loads this module by its path, like any installed plugin.
"""

from __future__ import annotations

from fastsnn.builtins.ffn import PulseFFN, SwiGLUFFN
from fastsnn.builtins.norms import LayerNorm, RMSNorm
from fastsnn.export.safetensors_exporter import SafetensorsExporter
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
    register("safetensors", SafetensorsExporter)
