"""``fastsnn plugins``, ``fastsnn list`` and ``fastsnn info``: what was discovered."""

from __future__ import annotations

import click
from pydantic import BaseModel

from fastsnn.cli.output import echo_json, format_table
from fastsnn.plugins import get_plugin_manager


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """List loaded plugins: distribution, version, hooks, components, status (ok/broken)."""
    manager = get_plugin_manager()
    infos = [p.as_dict() for p in manager.plugins.values()]
    if as_json:
        echo_json(infos)
        return
    rows = [
        {
            "plugin": p["name"],
            "distribution": p["distribution"],
            "version": p["version"],
            "status": p["status"],
            "components": len(p["components"]),
            "kinds": ", ".join(p["kinds"]),
        }
        for p in infos
    ]
    click.echo(format_table(rows))
    for p in infos:
        if p["status"] != "ok":
            click.secho(f"\n{p['name']} ({p['distribution']}) is broken: {p['error']}", fg="red")
        for warning in p["warnings"]:
            click.secho(f"\n{p['name']} ({p['distribution']}): {warning}", fg="yellow")


def _kind(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check KIND against the kinds table (core's and those plugins declared)."""
    if value is not None:
        get_plugin_manager().registry.kind(value)  # UnknownComponentError → exit 2 with did-you-mean
    return value


@click.command(name="list")
@click.argument("kind", required=False, callback=_kind)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with each params schema).")
def list_components(kind: str | None, as_json: bool) -> None:
    """List registered components, optionally of one KIND."""
    specs = get_plugin_manager().registry.specs(kind)
    if as_json:
        echo_json([s.as_dict() for s in specs])
        return
    rows = [{"kind": s.kind, "name": s.name, "distribution": s.distribution, "description": s.description}
            for s in specs]
    click.echo(format_table(rows))


@click.command()
@click.argument("kind", callback=_kind)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON schema of the params.")
def info(kind: str, name: str, as_json: bool) -> None:
    """Show one component: where it comes from and its params (type, default, description)."""
    spec = get_plugin_manager().registry.get(kind, name)
    if as_json:
        echo_json(spec.as_dict())
        return
    click.echo(f"{spec.kind} {spec.name!r} — {spec.description}")
    click.echo(f"from plugin {spec.plugin} ({spec.distribution} {spec.version})")
    rows = param_rows(spec.params)
    click.echo("params:" if rows else "params: none")
    if rows:
        click.echo(format_table(rows))


def param_rows(params: type[BaseModel]) -> list[dict[str, str]]:
    """One row per field of a component's ``Params``: param, type, default, constraints, description.

    The one rendering of a parameter table: ``fastsnn info`` prints it and the documentation site's
    component pages (``docs/gen_pages.py``) are generated from it.
    """
    rows = []
    for field_name, field in params.model_fields.items():
        default = "(required)" if field.is_required() else repr(field.get_default(call_default_factory=True))
        rows.append({
            "param": field_name,
            "type": _type_name(field.annotation),
            "default": default,
            "constraints": ", ".join(str(m) for m in field.metadata),
            "description": field.description or "",
        })
    return rows


def _type_name(annotation: object) -> str:
    name = getattr(annotation, "__name__", None)
    return name if name and not str(annotation).startswith("typing") else str(annotation).replace("typing.", "")


COMMANDS = (plugins, list_components, info)
