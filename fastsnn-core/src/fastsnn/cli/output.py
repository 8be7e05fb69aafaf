"""Printing tables and JSON for the CLI."""

from __future__ import annotations

import json
from typing import Any

import click

from fastsnn.tables import format_table

__all__ = ["echo_json", "format_table"]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
