"""Exceptions that reach users. Each says what was wrong, where, and what to do."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class FastSNNError(Exception):
    """Base class of every error FastSNN raises on purpose (bad input, bad plugin, ...).

    The CLI prints these without a traceback and exits with code 2.
    """


class UnknownComponentError(FastSNNError, KeyError):
    """A config or ``create`` call named a component that no loaded plugin registered."""

    def __init__(self, kind: str, name: str, available: list[str], hint: str | None = None):
        self.kind, self.name, self.available, self.hint = kind, name, list(available), hint
        super().__init__(self._message())

    def _message(self) -> str:
        import difflib

        msg = f"unknown {self.kind} {self.name!r}"
        close = difflib.get_close_matches(self.name, self.available, n=1, cutoff=0.5)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
        what = "kinds" if self.kind == "component kind" else f"{self.kind} components"
        msg += f"; available {what}: " + (", ".join(sorted(self.available)) or "none")
        if self.hint:
            msg += f". {self.hint}"
        return msg

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class DuplicateComponentError(FastSNNError):
    """Two plugins registered the same (kind, name)."""


class PluginError(FastSNNError):
    """A plugin failed to load or registered something invalid (raised in strict mode)."""


class ConfigError(FastSNNError):
    """A config file is missing, unreadable or malformed."""


def format_loc(loc: tuple[Any, ...] | list[Any], prefix: str = "") -> str:
    """``("layers", 3, "window")`` → ``layers[3].window`` (``prefix`` goes in front: ``model.layers[3]``)."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    """Render a pydantic error as ``path: message`` lines, e.g. ``model.layers[3].window: ...``."""
    lines = []
    for item in err.errors():
        path = format_loc(item["loc"], prefix)
        lines.append(f"  {path or '(root)'}: {item['msg']}")
    return "\n".join(lines)
