"""``fastsnn``: list what plugins provide, validate configs, run the pipeline."""

from __future__ import annotations

import sys

import click

import fastsnn
import fastsnn_runtime
from fastsnn.cli.errors import EXIT_BAD_INPUT, FriendlyGroup, classify


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(fastsnn.__version__, "--version", prog_name="fastsnn")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("--threads", type=int, metavar="N",
              help="torch CPU threads, 1 to the number of CPUs (default: $FASTSNN_THREADS, $OMP_NUM_THREADS, all).")
def cli(debug: bool, threads: int | None) -> None:
    """FastSNN: build ANN → convert to SNN → train/evaluate → export.

    Components come from plugins (entry-point group ``fastsnn``); ``fastsnn plugins`` shows them.
    """
    fastsnn_runtime.apply_thread_policy(threads)


def _add_builtin_commands() -> None:
    from fastsnn.cli import bench, demo, discover, evaluate, pipeline, scaffold, scope, validate

    for command in (*discover.COMMANDS, validate.validate, demo.demo, pipeline.train, evaluate.evaluate, pipeline.generate,
                    pipeline.export, pipeline.inspect_command, scope.scope_command, scaffold.plugin, bench.bench):
        cli.add_command(command)


_add_builtin_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``fastsnn`` script: load plugin commands, then run."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        from fastsnn.plugins import get_plugin_manager

        get_plugin_manager().register_commands(cli)
    except Exception as err:  # strict mode or a broken built-in
        if debug:
            raise
        code, msg = classify(err)
        click.secho(f"Error: {msg}", fg="red", err=True)
        sys.exit(code if code else EXIT_BAD_INPUT)
    cli.main(args=argv, prog_name="fastsnn")


if __name__ == "__main__":  # pragma: no cover
    fastsnn_runtime.rerun_module_with_policy("fastsnn.cli.main")
    main()
