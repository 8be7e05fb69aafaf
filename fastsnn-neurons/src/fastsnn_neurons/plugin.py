"""The fastsnn-neurons plugin: neurons, surrogates, codings and the ``neurons`` benchmark,
registered through the public hooks (entry point ``neurons`` in group ``fastsnn``)."""

from __future__ import annotations

from fastsnn import hookimpl
from fastsnn_neurons.bench import NeuronBenchmark
from fastsnn_neurons.codings import CODINGS
from fastsnn_neurons.neurons import NEURONS
from fastsnn_neurons.surrogates import SURROGATES

PLUGIN_API_VERSION = "2.0"


@hookimpl
def fastsnn_register_neurons(register):
    for neuron_cls in NEURONS:
        register(neuron_cls.name, neuron_cls)


@hookimpl
def fastsnn_register_surrogates(register):
    for surrogate_cls in SURROGATES:
        register(surrogate_cls.name, surrogate_cls)


@hookimpl
def fastsnn_register_codings(register):
    for coding_cls in CODINGS:
        register(coding_cls.name, coding_cls)


@hookimpl
def fastsnn_register_benchmarks(register):
    register("neurons", NeuronBenchmark)
