"""Reading spike trains out to dense tensors inside an event block (a plugin's ``event_mode``-style context).

Inside such a block a model's layers hand spike trains to each other. Two things turn them back into
dense tensors where a train is not understood:

- :class:`SpikeTrainBase` — the base of a plugin's train objects: layers that know trains read them
  step by step; any other torch function (and operator) given one receives :func:`read_out`'s dense
  value instead, through ``__torch_function__``;
- :class:`OutputReadOut` — what the *model* returns must still be dense tensors: one process-wide
  forward hook (``torch.nn.modules.module.register_module_forward_hook``), present only while at
  least one model is marked. Marks are counted (nested blocks) and kept in a ``WeakKeyDictionary``
  outside the model, so a copy or pickle taken inside a block is a plain model and a dropped model
  leaves nothing behind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable
from weakref import WeakKeyDictionary

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

__all__ = ["OutputReadOut", "SpikeTrainBase", "read_out"]


class SpikeTrainBase(ABC):
    """A spike train passed between layers in an event block, read out wherever it is not understood.

    Subclasses hold their events (time first, ``[T, *S]``) in whatever form they need and define
    :meth:`to_dense`, the train's dense value of shape ``S``. Every torch function given a train —
    directly or inside a list, tuple or dict — receives that dense value instead, so a layer that
    does not know trains (an activation, a norm, a residual add) computes what it computes in count
    mode. A subclass handles the functions it does know first and defers the rest to this class's
    ``__torch_function__`` (``fastsnn_neurons.EventTrain`` maps ``F.linear`` step by step).
    """

    __slots__ = ()

    @abstractmethod
    def to_dense(self) -> torch.Tensor:
        """The train's dense value, shape ``S`` (its events without the time axis, read out)."""

    @classmethod
    def __torch_function__(cls, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        return func(*read_out(args), **read_out(kwargs or {}))


def read_out(value: Any) -> Any:
    """``value`` with every :class:`SpikeTrainBase` inside it (nested lists, tuples and dicts)
    replaced by its dense value (:meth:`SpikeTrainBase.to_dense`); anything else unchanged."""
    if isinstance(value, SpikeTrainBase):
        return value.to_dense()
    if isinstance(value, (list, tuple)):
        return type(value)(read_out(v) for v in value)
    if isinstance(value, dict):
        return {k: read_out(v) for k, v in value.items()}
    return value


class OutputReadOut:
    """Apply ``read_out(output)`` to the output of every marked model's ``forward``.

    ``read_out`` receives whatever the model returned (a tensor, a spike train, a tuple …) and
    returns its dense form, or ``None`` to leave it as it is. One instance per kind of block (each
    plugin keeps its own as a module-level object).
    """

    def __init__(self, read_out: Callable[[Any], Any]) -> None:
        self._read_out = read_out
        self._roots: WeakKeyDictionary[nn.Module, int] = WeakKeyDictionary()
        self._handle: RemovableHandle | None = None

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> Any:
        return self._read_out(output) if module in self._roots else None

    def mark(self, model: nn.Module) -> None:
        """Read ``model``'s outputs out until the matching :meth:`unmark` (marks nest)."""
        self._roots[model] = self._roots.get(model, 0) + 1
        if self._handle is None:  # a process-wide hook only while some block is open
            self._handle = nn.modules.module.register_module_forward_hook(self._hook)

    def unmark(self, model: nn.Module) -> None:
        """Undo one :meth:`mark`; the hook goes when no model is marked any more."""
        remaining = self._roots.pop(model, 1) - 1
        if remaining > 0:
            self._roots[model] = remaining
        if not self._roots and self._handle is not None:
            self._handle.remove()
            self._handle = None

    def is_marked(self, model: nn.Module) -> bool:
        """Whether ``model`` is inside at least one block."""
        return model in self._roots
