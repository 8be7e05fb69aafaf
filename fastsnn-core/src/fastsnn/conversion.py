"""The ANN→SNN conversion contract: rules that match modules and say what replaces them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass
class ConversionContext:
    """What a rule may need: the neuron to insert, the model-level width, and notes to report."""

    neuron: Any = "adaptive_threshold"
    d_model: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


class ConversionRule(ABC):
    """Base class of registered conversion rules (kind ``rule``).

    Rules are tried in descending ``priority``; the first whose :meth:`matches` is true
    replaces the module with :meth:`convert`'s result. Unmatched modules are kept, and their
    children are visited.
    """

    priority: int = 0

    @abstractmethod
    def matches(self, module: nn.Module, qualname: str) -> bool:
        """Whether this rule handles ``module`` (found at ``qualname`` in the model)."""

    @abstractmethod
    def convert(self, module: nn.Module, qualname: str, context: ConversionContext) -> nn.Module:
        """The replacement for ``module``."""
