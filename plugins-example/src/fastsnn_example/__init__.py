"""An example third-party FastSNN plugin, written only against the public plugin API.

It registers one component of three kinds (see :mod:`fastsnn_example.plugin`):

- neuron ``clipped_sint`` — :class:`ClippedSINTNeuron`
- attention ``retention`` — :class:`RetentionAttention`
- rule ``hardtanh`` — :class:`HardtanhRule`
"""

from fastsnn_example.neuron import ClippedSINTNeuron
from fastsnn_example.retention import RetentionAttention, RetentionCache, retention_naive, retention_parallel
from fastsnn_example.rules import HardtanhRule

__all__ = [
    "ClippedSINTNeuron",
    "HardtanhRule",
    "RetentionAttention",
    "RetentionCache",
    "retention_naive",
    "retention_parallel",
]
