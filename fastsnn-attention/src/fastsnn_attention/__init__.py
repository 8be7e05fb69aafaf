"""FastSNN attention kernels: softmax, linear, gated linear (GLA), sliding-window, hybrid layouts.

Kernels are pure functions in :mod:`fastsnn_attention.ops`; ``nn.Module`` layers with their
decode caches are in :mod:`fastsnn_attention.layers`. Everything is registered with fastsnn
through :mod:`fastsnn_attention.plugin`, so configs name them (``"swa"``, ``"hybrid_alt"``).
"""

from fastsnn_attention.feature_maps import FeatureMap, feature_map_names, get_feature_map, register_feature_map
from fastsnn_attention.layers import (
    GatedLinearAttention,
    HybridParallelAttention,
    LinearAttention,
    SlidingWindowAttention,
    SoftmaxAttention,
)
from fastsnn_attention.layouts import hybrid_alt

__all__ = [
    "FeatureMap",
    "GatedLinearAttention",
    "HybridParallelAttention",
    "LinearAttention",
    "SlidingWindowAttention",
    "SoftmaxAttention",
    "feature_map_names",
    "get_feature_map",
    "hybrid_alt",
    "register_feature_map",
]
