"""fastsnn-attention's plugin module: registers its kernels, layouts and benchmarks through the public hooks."""

from __future__ import annotations

from fastsnn import hookimpl

PLUGIN_API_VERSION = "1.0"


@hookimpl
def fastsnn_register_attention(register):
    from fastsnn_attention.layers import (
        GatedLinearAttention,
        HybridParallelAttention,
        LinearAttention,
        SlidingWindowAttention,
        SoftmaxAttention,
    )

    register("softmax", SoftmaxAttention)
    register("linear", LinearAttention)
    register("gla", GatedLinearAttention)
    register("swa", SlidingWindowAttention)
    register("hybrid_par", HybridParallelAttention)


@hookimpl
def fastsnn_register_layouts(register):
    from fastsnn_attention.layouts import HybridAltParams, hybrid_alt

    register("hybrid_alt", hybrid_alt, params=HybridAltParams)


@hookimpl
def fastsnn_register_benchmarks(register):
    from fastsnn_attention.benchmarks import AttentionBenchmark, ModelBenchmark

    register("attention", AttentionBenchmark)
    register("model", ModelBenchmark)
