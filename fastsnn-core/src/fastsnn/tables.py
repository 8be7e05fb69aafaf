"""One plain-text table formatter, used by the CLI, conversion and calibration reports and benchmarks."""

from __future__ import annotations

from typing import Any, Mapping, Sequence


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *,
                 indent: str = "", rule: bool = True, empty: str = "(nothing)") -> str:
    """Rows of dicts as left-aligned columns under one header line.

    ``columns`` picks and orders the columns (default: every key, in first-seen order); a row
    without a column shows an empty cell. Floats are shown with 4 significant digits, everything
    else with ``str``. ``rule`` adds a dashed line under the header; ``indent`` prefixes every
    line. An empty ``rows`` gives ``empty``.
    """
    if not rows:
        return empty
    columns = list(columns or dict.fromkeys(k for row in rows for k in row))
    cells = [[format_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    if rule:
        lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(indent + line.rstrip() for line in lines)


def format_cell(value: Any) -> str:
    """A float with 4 significant digits; ``None`` as ``-``; anything else with ``str``."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    return str(value)
