"""The fastsnn-neurons plugin: neurons, surrogates, codings and the ``neurons`` benchmark,
registered through the public hooks (entry point ``neurons`` in group ``fastsnn``)."""

from __future__ import annotations

from fastsnn import hookimpl

PLUGIN_API_VERSION = "1.0"


@hookimpl
def fastsnn_register_neurons(register):
    from fastsnn_neurons.neurons import NEURONS

    for neuron_cls in NEURONS:
        register(neuron_cls.name, neuron_cls)


@hookimpl
def fastsnn_register_surrogates(register):
    from fastsnn_neurons.surrogates import SURROGATES

    for surrogate_cls in SURROGATES:
        register(surrogate_cls.name, surrogate_cls)


@hookimpl
def fastsnn_register_codings(register):
    from fastsnn_neurons.codings import CODINGS

    for coding_cls in CODINGS:
        register(coding_cls.name, coding_cls)


@hookimpl
def fastsnn_register_benchmarks(register):
    from fastsnn_neurons.bench import NeuronBenchmark

    register("neurons", NeuronBenchmark)
