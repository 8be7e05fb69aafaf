"""``fastsnn validate CONFIG``: check a run file exactly as ``fastsnn train`` will, and print every error."""

from __future__ import annotations

from pathlib import Path

import click

from fastsnn.config.checks import load_run_file


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
def validate(config: Path) -> None:
    """Check CONFIG (TOML, JSON or YAML): every table, every component's params, the rules across
    tables, and that the model builds (on the meta device, no memory) — the checks `fastsnn train` runs."""
    run = load_run_file(config)
    click.echo(f"{config}: OK")
    if run.model is not None:
        layers = ", ".join(ref.name for ref in run.model.layer_attention())
        click.echo(f"  model: {run.model.n_layers} layers, d_model={run.model.d_model}, attention per layer: {layers}")
