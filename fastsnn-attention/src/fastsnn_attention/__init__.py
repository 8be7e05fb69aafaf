"""FastSNN attention kernels: softmax, linear, gated linear (GLA), sliding-window, hybrid layouts.

Kernels are pure functions in :mod:`fastsnn_attention.ops`; ``nn.Module`` layers with their
decode caches are in :mod:`fastsnn_attention.layers`. Everything is registered with fastsnn
through :mod:`fastsnn_attention.plugin`, so configs name them (``"swa"``, ``"hybrid_alt"``); the
plugin also declares the component kind ``feature_map`` (:class:`FeatureMap`, the φ of linear
attention), which any plugin can add to.
"""

from fastsnn_attention.feature_maps import FeatureMap
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
    "hybrid_alt",
]
