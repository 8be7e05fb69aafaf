"""The module named by this package's ``fastsnn`` entry point.

FastSNN imports it once, checks ``PLUGIN_API_VERSION`` and calls each ``@hookimpl`` function
with a ``register`` callback. Imports of the component modules sit inside the hooks so that
listing plugins stays cheap.
"""

from __future__ import annotations

from fastsnn import hookimpl

#: the plugin API this plugin was written for (a different major version is refused, not half-loaded)
PLUGIN_API_VERSION = "2.0"


@hookimpl
def fastsnn_register_kinds(register):
    """Declare the kind ``spike_regularizer`` (phase 1: every plugin's kinds are known before any
    component is registered, so the order plugins load in does not matter)."""
    register(
        "spike_regularizer",
        hook="fastsnn_register_spike_regularizers",
        description="penalties on spike counts added to a training loss",
        base="fastsnn_example.regularizers:SpikeRegularizer",
        providers={"firing_rate": "fastsnn-example"},
    )


@hookimpl
def fastsnn_register_spike_regularizers(register):
    from fastsnn_example.regularizers import FiringRateRegularizer

    register("firing_rate", FiringRateRegularizer)


@hookimpl
def fastsnn_register_neurons(register):
    from fastsnn_example.neuron import ClippedSINTNeuron

    register("clipped_sint", ClippedSINTNeuron)


@hookimpl
def fastsnn_register_surrogates(register):
    from fastsnn_example.surrogate import SuperSpikeSurrogate

    register("superspike", SuperSpikeSurrogate)


@hookimpl
def fastsnn_register_codings(register):
    from fastsnn_example.coding import BalancedTernaryCoding

    register("balanced_ternary", BalancedTernaryCoding)


@hookimpl
def fastsnn_register_attention(register):
    from fastsnn_example.retention import RetentionAttention

    register("retention", RetentionAttention)


@hookimpl
def fastsnn_register_conversion_rules(register):
    from fastsnn_example.rules import HardtanhRule

    register("hardtanh", HardtanhRule)
