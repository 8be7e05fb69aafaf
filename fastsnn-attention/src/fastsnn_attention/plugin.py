"""fastsnn-attention's plugin module: declares the ``feature_map`` kind and registers its kernels,
layouts, feature maps and benchmarks through the public hooks."""

from __future__ import annotations

from fastsnn import hookimpl
from fastsnn_attention.benchmarks import AttentionBenchmark, LongContextBenchmark, ModelBenchmark
from fastsnn_attention.feature_maps import BUILTIN_FEATURE_MAPS
from fastsnn_attention.layers import (
    GatedLinearAttention,
    HybridParallelAttention,
    LinearAttention,
    SlidingWindowAttention,
    SoftmaxAttention,
)
from fastsnn_attention.layouts import HybridAltParams, hybrid_alt

PLUGIN_API_VERSION = "2.0"

DISTRIBUTION = "fastsnn-attention"


@hookimpl
def fastsnn_register_kinds(register):
    register(
        "feature_map",
        hook="fastsnn_register_feature_maps",
        description="feature maps φ of linear attention: q, k → φ(q), φ(k)",
        base="fastsnn_attention.feature_maps:FeatureMap",
        required=("nonnegative",),
        providers=dict.fromkeys(BUILTIN_FEATURE_MAPS, DISTRIBUTION),
    )


@hookimpl
def fastsnn_register_feature_maps(register):
    for name, feature_map in BUILTIN_FEATURE_MAPS.items():
        register(name, feature_map)


@hookimpl
def fastsnn_register_attention(register):
    register("softmax", SoftmaxAttention)
    register("linear", LinearAttention)
    register("gla", GatedLinearAttention)
    register("swa", SlidingWindowAttention)
    register("hybrid_par", HybridParallelAttention)


@hookimpl
def fastsnn_register_layouts(register):
    register("hybrid_alt", hybrid_alt, params=HybridAltParams)


@hookimpl
def fastsnn_register_benchmarks(register):
    register("attention", AttentionBenchmark)
    register("model", ModelBenchmark)
    register("longctx", LongContextBenchmark)
