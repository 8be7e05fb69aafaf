"""fastsnn-neurons: spiking neurons, surrogate gradients, spike codings and event-driven inference.

Components are found by name through the FastSNN registry (``fastsnn.create("neuron",
"adaptive_threshold", k=3)``); the classes and helpers are importable from here too. The
contracts they implement live in core (``fastsnn.SpikingNeuron``, ``fastsnn.Surrogate``,
``fastsnn.SpikeCoding``, ``fastsnn.IntegrateFireCoding``, ``fastsnn.Benchmark``);
``Surrogate`` and ``IntegrateFireCoding`` are re-exported here for compatibility.
"""

from fastsnn import IntegrateFireCoding, Surrogate
from fastsnn_neurons.codings import (
    BinaryCoding,
    BitwiseBidirectionalCoding,
    BitwiseCoding,
    LinearCoding,
    TernaryCoding,
    TwosComplementCoding,
)
from fastsnn_neurons.events import EventRecord, EventTrain, event_mode, fire_counts, integrate_and_fire
from fastsnn_neurons.neurons import (
    AdaptiveThresholdNeuron,
    CountNeuron,
    FixedThresholdNeuron,
    IFNeuron,
    LIFNeuron,
    LIFSINTNeuron,
    PackageNeuron,
)
from fastsnn_neurons.stats import NeuronStats, collect_stats
from fastsnn_neurons.surrogates import ArcTan, Rectangular, Sigmoid, StraightThrough, Triangle

__all__ = [
    "AdaptiveThresholdNeuron",
    "ArcTan",
    "BinaryCoding",
    "BitwiseBidirectionalCoding",
    "BitwiseCoding",
    "CountNeuron",
    "EventRecord",
    "EventTrain",
    "FixedThresholdNeuron",
    "IFNeuron",
    "IntegrateFireCoding",
    "LIFNeuron",
    "LIFSINTNeuron",
    "LinearCoding",
    "NeuronStats",
    "PackageNeuron",
    "Rectangular",
    "Sigmoid",
    "StraightThrough",
    "Surrogate",
    "TernaryCoding",
    "Triangle",
    "TwosComplementCoding",
    "collect_stats",
    "event_mode",
    "fire_counts",
    "integrate_and_fire",
]
