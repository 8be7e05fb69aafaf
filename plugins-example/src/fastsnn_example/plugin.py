"""The module named by this package's ``fastsnn`` entry point.

FastSNN imports it once, checks ``PLUGIN_API_VERSION`` and calls each ``@hookimpl`` function
with a ``register`` callback. Imports of the component modules sit inside the hooks so that
listing plugins stays cheap.
"""

from __future__ import annotations

from fastsnn import hookimpl

#: the plugin API this plugin was written for (a different major version is refused, not half-loaded)
PLUGIN_API_VERSION = "1.0"


@hookimpl
def fastsnn_register_neurons(register):
    from fastsnn_example.neuron import ClippedSINTNeuron

    register("clipped_sint", ClippedSINTNeuron)


@hookimpl
def fastsnn_register_attention(register):
    from fastsnn_example.retention import RetentionAttention

    register("retention", RetentionAttention)


@hookimpl
def fastsnn_register_conversion_rules(register):
    from fastsnn_example.rules import HardtanhRule

    register("hardtanh", HardtanhRule)
