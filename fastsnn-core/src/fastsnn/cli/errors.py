"""How the CLI turns exceptions into exit codes: 0 ok, 1 job failure, 2 bad usage or input."""

from __future__ import annotations

import sys
import traceback
from typing import Any

import click
from pydantic import ValidationError

from fastsnn.errors import FastSNNError
from fastsnn.registry import format_validation_error

EXIT_OK, EXIT_JOB_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class JobFailed(Exception):
    """A command's job (training, benchmark, ...) failed for reasons other than bad input."""


class FriendlyGroup(click.Group):
    """A click group that prints user errors without a traceback (``--debug`` shows it)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as err:
            debug = bool(ctx.find_root().params.get("debug"))
            if debug:
                traceback.print_exc()
            code, msg = classify(err)
            click.secho(f"Error: {msg}", fg="red", err=True)
            if not debug:
                hint = "run with --debug for the traceback" if code == EXIT_JOB_FAILED else None
                if hint:
                    click.echo(f"({hint})", err=True)
            ctx.exit(code)


def classify(err: BaseException) -> tuple[int, str]:
    if isinstance(err, ValidationError):
        return EXIT_BAD_INPUT, "invalid input:\n" + format_validation_error(err)
    if isinstance(err, FastSNNError):
        return EXIT_BAD_INPUT, str(err)
    if isinstance(err, JobFailed):
        return EXIT_JOB_FAILED, str(err)
    return EXIT_JOB_FAILED, f"{type(err).__name__}: {err}"


def fail_input(message: str) -> None:
    """Abort the command as bad input (exit 2)."""
    raise FastSNNError(message)


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
