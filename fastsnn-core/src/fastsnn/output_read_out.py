"""Reading out the outputs of models run inside an event block (a plugin's ``event_mode``-style context).

Inside such a block a model's layers hand spike trains to each other; what the *model* returns must
still be dense tensors. :class:`OutputReadOut` does that with one process-wide forward hook
(``torch.nn.modules.module.register_module_forward_hook``), present only while at least one model is
marked. Marks are counted (nested blocks) and kept in a ``WeakKeyDictionary`` outside the model, so a
copy or pickle taken inside a block is a plain model and a dropped model leaves nothing behind.
"""

from __future__ import annotations

from typing import Any, Callable
from weakref import WeakKeyDictionary

from torch import nn
from torch.utils.hooks import RemovableHandle


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
