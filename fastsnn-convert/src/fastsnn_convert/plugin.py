"""The ``fastsnn`` entry point of fastsnn-convert: registers its conversion rules."""

from __future__ import annotations

from fastsnn import hookimpl

PLUGIN_API_VERSION = "2.0"


@hookimpl
def fastsnn_register_conversion_rules(register):
    from fastsnn_convert import rules

    register("relu", rules.ReLURule)
    register("relu6", rules.ReLU6Rule)
    register("leaky_relu", rules.LeakyReLURule)
    register("clamp", rules.HardtanhRule)  # "hardtanh" is fastsnn-example's rule (its own neuron)
    register("gelu", rules.GELURule)
    register("silu", rules.SiLURule)
    register("linear", rules.LinearRule)
    register("conv", rules.ConvRule)
    register("batchnorm_fold", rules.BatchNormRule)
    register("pool", rules.PoolRule)
    register("flatten", rules.FlattenRule)
    register("dropout", rules.DropoutRule)


@hookimpl
def fastsnn_register_commands(cli):
    from fastsnn_convert.cli import convert_command
    from fastsnn_convert.hf.command import convert_hf_command  # transformers is imported only when it runs

    cli.add_command(convert_command)
    cli.add_command(convert_hf_command)


@hookimpl
def fastsnn_register_benchmarks(register):
    from fastsnn_convert.bench import ConvertBenchmark

    register("convert", ConvertBenchmark)
