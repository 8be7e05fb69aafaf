"""The ``fastsnn`` entry point of fastsnn-convert: registers its conversion rules."""

from __future__ import annotations

from fastsnn import hookimpl

PLUGIN_API_VERSION = "2.0"


@hookimpl
def fastsnn_register_conversion_rules(register):
    from fastsnn_convert.rules import GELURule, LinearRule, ReLURule, SiLURule

    register("relu", ReLURule)
    register("gelu", GELURule)
    register("silu", SiLURule)
    register("linear", LinearRule)
