"""Core's default plugin: FFNs, norms and the safetensors exporter, through the public hooks."""

from __future__ import annotations

from fastsnn.hookspecs import hookimpl

PLUGIN_API_VERSION = "1.0"


@hookimpl
def fastsnn_register_ffn(register):
    from fastsnn.builtins.ffn import PulseFFN, SwiGLUFFN

    register("pulse", PulseFFN)
    register("swiglu", SwiGLUFFN)


@hookimpl
def fastsnn_register_norms(register):
    from fastsnn.builtins.norms import LayerNorm, RMSNorm

    register("rmsnorm", RMSNorm)
    register("layernorm", LayerNorm)


@hookimpl
def fastsnn_register_exporters(register):
    from fastsnn.export.safetensors_exporter import SafetensorsExporter

    register("safetensors", SafetensorsExporter)
