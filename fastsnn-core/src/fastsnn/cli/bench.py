"""``fastsnn bench NAME``: run a registered benchmark and print its rows."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fastsnn.cli.errors import JobFailed, stderr
from fastsnn.cli.output import echo_json, format_table
from fastsnn.errors import FastSNNError
from fastsnn.plugins import get_plugin_manager


def parse_setting(text: str) -> tuple[str, object]:
    """``key=value`` → ``(key, value)``; the value is read as JSON when it parses, else kept a string."""
    if "=" not in text:
        raise FastSNNError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


@click.command()
@click.argument("name", required=False)
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Override a benchmark parameter.")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--output", type=click.Path(path_type=Path), help="Also write the rows as JSON to this file.")
def bench(name: str | None, settings: tuple[str, ...], as_json: bool, output: Path | None) -> None:
    """Run benchmark NAME (``fastsnn list benchmark`` shows them; no NAME lists them)."""
    registry = get_plugin_manager().registry
    if name is None:
        rows = [{"name": s.name, "distribution": s.distribution, "description": s.description}
                for s in registry.specs("benchmark")]
        click.echo(format_table(rows))
        return
    params = dict(parse_setting(s) for s in settings)
    runner = registry.create("benchmark", name, **params)
    try:
        rows = runner(stderr)
    except FastSNNError:
        raise
    except Exception as err:
        raise JobFailed(f"benchmark {name!r} failed: {type(err).__name__}: {err}") from err
    if output is not None:
        output.write_text(json.dumps(rows, indent=2, default=str))
    if as_json:
        echo_json(rows)
    else:
        click.echo(format_table(rows))
