"""The neurons this package registers (kind ``neuron``)."""

from fastsnn_neurons.neurons.adaptive import AdaptiveThresholdNeuron
from fastsnn_neurons.neurons.base import CountNeuron, PackageNeuron
from fastsnn_neurons.neurons.binary import IFNeuron, LIFNeuron
from fastsnn_neurons.neurons.fixed import FixedThresholdNeuron
from fastsnn_neurons.neurons.lif_sint import LIFSINTNeuron

NEURONS: tuple[type[PackageNeuron], ...] = (
    AdaptiveThresholdNeuron,
    FixedThresholdNeuron,
    LIFSINTNeuron,
    IFNeuron,
    LIFNeuron,
)

__all__ = [
    "NEURONS",
    "AdaptiveThresholdNeuron",
    "CountNeuron",
    "FixedThresholdNeuron",
    "IFNeuron",
    "LIFNeuron",
    "LIFSINTNeuron",
    "PackageNeuron",
]
