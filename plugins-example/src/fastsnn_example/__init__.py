"""An example third-party FastSNN plugin, written only against fastsnn-core's public plugin API.

It registers one component of five of core's kinds, and declares a kind of its own (see
:mod:`fastsnn_example.plugin`):

- neuron ``clipped_sint`` — :class:`ClippedSINTNeuron`
- surrogate ``superspike`` — :class:`SuperSpikeSurrogate`
- coding ``balanced_ternary`` — :class:`BalancedTernaryCoding` (event-mode capable)
- attention ``retention`` — :class:`RetentionAttention`
- rule ``hardtanh`` — :class:`HardtanhRule`
- spike_regularizer ``firing_rate`` — :class:`FiringRateRegularizer` (the kind ``spike_regularizer``
  is declared by this plugin; its contract is :class:`SpikeRegularizer`)
"""

from fastsnn_example.coding import BalancedTernaryCoding
from fastsnn_example.neuron import ClippedSINTNeuron
from fastsnn_example.regularizers import FiringRateRegularizer, SpikeRegularizer
from fastsnn_example.retention import RetentionAttention, RetentionCache, retention_naive, retention_parallel
from fastsnn_example.rules import HardtanhRule
from fastsnn_example.surrogate import SuperSpikeSurrogate

__all__ = [
    "BalancedTernaryCoding",
    "ClippedSINTNeuron",
    "FiringRateRegularizer",
    "HardtanhRule",
    "RetentionAttention",
    "RetentionCache",
    "SpikeRegularizer",
    "SuperSpikeSurrogate",
    "retention_naive",
    "retention_parallel",
]
