"""What a conversion did: which modules were replaced (by which rule), which were kept, and which
activations called as functions could not be converted."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from fastsnn.tables import format_table


@dataclass(frozen=True)
class Replacement:
    """One module swapped by a rule."""

    qualname: str  # where in the model ("" is the root)
    original: str  # class name of the module that was there
    replacement: str  # class name of what is there now
    rule: str  # the rule's registered name
    feature_dim: int | None = None  # feature width at the module (inferred, else the fallback)
    note: str = ""  # the rule's own remark (ConversionRule.describe)


@dataclass(frozen=True)
class KeptModule:
    """One leaf module left as it was."""

    qualname: str
    type_name: str
    reason: str  # "no rule matched" or "already spiking"


@dataclass(frozen=True)
class NotConverted:
    """An activation called as a function (``F.relu(x)``) that is still an ANN activation."""

    qualname: str  # the module whose code calls it
    call: str  # "F.relu", "Tensor.relu", "gelu (named in its code)", "activation=F.relu"
    reason: str  # why it was left, and what to do


@dataclass
class ConversionReport:
    """The record of one :func:`fastsnn.convert.convert` call; ``print(report)`` shows a table."""

    rules: list[str] = field(default_factory=list)  # rules tried, in the order they were tried
    replaced: list[Replacement] = field(default_factory=list)
    kept: list[KeptModule] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # adjustments the engine made besides replacements
    not_converted: list[NotConverted] = field(default_factory=list)  # functional activations left as they are

    def by_rule(self) -> dict[str, int]:
        """Number of replacements per rule name."""
        return dict(Counter(r.rule for r in self.replaced))

    def kept_types(self) -> dict[str, int]:
        """Number of kept leaf modules per class name."""
        return dict(Counter(k.type_name for k in self.kept))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rules": list(self.rules),
            "replaced": [asdict(r) for r in self.replaced],
            "kept": [asdict(k) for k in self.kept],
            "notes": list(self.notes),
            "not_converted": [asdict(n) for n in self.not_converted],
        }

    def __str__(self) -> str:
        left = f", {len(self.not_converted)} functional activation(s) not converted" if self.not_converted else ""
        lines = [f"ANN→SNN conversion: {len(self.replaced)} replaced, {len(self.kept)} kept{left} "
                 f"(rules tried: {', '.join(self.rules) or 'none'})"]
        if self.replaced:
            rows = [{"module": _where(r.qualname), "change": f"{r.original} → {r.replacement}", "rule": r.rule,
                     "width": "" if r.feature_dim is None else r.feature_dim, "note": r.note} for r in self.replaced]
            lines.append(format_table(rows, indent="  ", rule=False))
        if self.kept:
            lines.append("kept:")
            lines.append(format_table([{"module": _where(k.qualname), "type": k.type_name, "reason": k.reason}
                                       for k in self.kept], indent="  ", rule=False))
        if self.not_converted:
            lines.append("not converted (activations called as functions):")
            lines.append(format_table([{"module": _where(n.qualname), "call": n.call, "reason": n.reason}
                                       for n in self.not_converted], indent="  ", rule=False))
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _where(qualname: str) -> str:
    return qualname or "(root)"

