"""What every neuron of this package shares: params declared once, the surrogate, the NaN/inf
check, the time axis of multi-step neurons, and the run modes installed from outside.

Run modes (recording statistics, event-driven replay) are not part of a neuron: the context
managers that own them (:func:`fastsnn_neurons.collect_stats`, :func:`fastsnn_neurons.event_mode`)
put an entry for each neuron into :data:`count_recorders` or :data:`forward_overrides`, tables keyed
weakly by the module. A copy (``copy.deepcopy``), a pickle or a state dict of a neuron taken
inside such a block is therefore a plain neuron, and this module imports neither of them.
"""

from __future__ import annotations

import math
from typing import Any, Callable
from weakref import WeakKeyDictionary

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn import FastSNNError, SpikeTensor, SpikingNeuron, Surrogate
from fastsnn.surrogate import resolve_surrogate

#: neuron → ``forward(neuron, x)`` that replaces its own while a run mode is active (event mode
#: installs its integrate-and-fire replay here). Weak keys: the entry never travels with the module.
forward_overrides: WeakKeyDictionary[nn.Module, Callable[[Any, Any], Any]] = WeakKeyDictionary()
#: neuron → the recorder its counts go to (a :class:`fastsnn_neurons.NeuronStats`, installed by
#: ``collect_stats``; anything with ``record_counts(counts)``). Weak keys, as above.
count_recorders: WeakKeyDictionary[nn.Module, Any] = WeakKeyDictionary()


class PackageNeuron(SpikingNeuron):
    """Base of this package's neurons.

    Subclasses declare ``Params`` (with a ``surrogate`` field: the registry name or table of the
    surrogate gradient) and implement :meth:`_spikes` (the reference computation, count view);
    they may implement :meth:`_fast_forward` (a fused path used by :meth:`forward` when statistics
    are off; it must equal ``_spikes(x).to_dense()`` in values and gradients — tests check it).
    Build with keywords only: ``Neuron(k=3.0)`` or ``Neuron(params=Neuron.Params(k=3.0))``.
    """

    #: registered name (set by subclasses)
    name: str = "neuron"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.surrogate: Surrogate = resolve_surrogate(self.params.surrogate)

    # -- public API ---------------------------------------------------------------------------
    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        """``x [..., D]`` → count-view :class:`SpikeTensor` of the same shape: ``counts`` is a float
        tensor holding integers (differentiable through the surrogate), ``scale`` the threshold."""
        check_input(x, self.name)
        spikes = self._spikes(x)
        recorder = count_recorders.get(self) if count_recorders else None
        if recorder is not None:
            recorder.record_counts(spikes.counts)
        return spikes

    def forward(self, x: torch.Tensor) -> Any:
        """``x [..., D]`` → ``counts · scale`` (same shape). While a run mode installed from outside
        is active, that mode's forward runs instead (event mode: an output event train)."""
        if forward_overrides or count_recorders:  # one emptiness test when no mode is active anywhere
            override = forward_overrides.get(self)
            if override is not None:
                return override(self, x)
            if self in count_recorders:
                return self.spikes(x).to_dense()
        check_input(x, self.name)
        fast = self._fast_forward(x)
        if fast is not None:
            return fast
        return self.spikes(x).to_dense()

    # -- for subclasses ----------------------------------------------------------------------------
    def _spikes(self, x: torch.Tensor) -> SpikeTensor:
        raise FastSNNError(f"neuron {self.name!r} does not define how it spikes")  # pragma: no cover

    def _fast_forward(self, x: torch.Tensor) -> torch.Tensor | None:
        """A fused forward, or None when this configuration has none."""
        return None


class CountNeuron(PackageNeuron):
    """An sINT neuron: integer counts ``n = clamp(round(x / V_th), lo, hi)`` times ``V_th``.

    ``lo = −max_count`` (signed) or ``0`` (unsigned); ``hi = max_count`` (None: unbounded).
    ``round`` is :func:`torch.round` (half to even).
    """

    @property
    def signed(self) -> bool:
        return bool(self.params.signed)

    @property
    def one_step(self) -> bool:
        """Whether :meth:`spikes` gives one count per input value (no time axis in the input)."""
        return True

    @property
    def count_bounds(self) -> tuple[int | None, int | None]:
        """``(lo, hi)`` of the counts; None where unbounded."""
        max_count = self.params.max_count
        lo = (-max_count if max_count is not None else None) if self.signed else 0
        return lo, max_count

    def quantize(self, u: torch.Tensor) -> torch.Tensor:
        """``clamp(round(u), lo, hi)`` as ``round(hardtanh(u, lo, hi))`` (equal for integer bounds),
        so the gradient is the surrogate's strictly inside ``(lo, hi)`` and zero where the clamp is
        active, bounds included (as ReLU's gradient is zero at 0)."""
        lo, hi = self.count_bounds
        if lo is not None or hi is not None:
            u = F.hardtanh(u, -math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))
        return self.surrogate.round(u)


def check_input(x: Any, neuron_name: str) -> None:
    """A neuron's input must be a floating tensor with at least one axis."""
    if not isinstance(x, torch.Tensor):
        raise FastSNNError(f"neuron {neuron_name!r}: input must be a torch.Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise FastSNNError(
            f"neuron {neuron_name!r}: input must be a floating-point tensor, got {x.dtype}; cast it with x.float()"
        )
    if x.dim() == 0:
        raise FastSNNError(f"neuron {neuron_name!r}: input must have a feature axis, got a 0-d tensor")


def ensure_finite(value: torch.Tensor, neuron_name: str, what: str = "input") -> None:
    """Raise a FastSNNError if ``value`` holds NaN or ±inf.

    Cheap first: NaN/inf anywhere makes the sum non-finite, and a float sum is one vectorised
    reduction (several times cheaper than ``isfinite(x).all()``). Only a non-finite sum — NaN/inf
    or a genuine overflow of huge finite values — pays for the exact elementwise check.
    """
    if torch.compiler.is_compiling():
        return  # no data-dependent branch inside a compiled graph; the compiled decode checks its logits
    accumulate = torch.float32 if value.dtype in (torch.float16, torch.bfloat16) else None
    if bool(torch.isfinite(value.detach().sum(dtype=accumulate))):
        return
    if not bool(torch.isfinite(value).all()):
        raise FastSNNError(
            f"neuron {neuron_name!r}: {what} contains NaN or inf; find the layer that produced it "
            "(a diverging loss or learning rate is the usual cause), or pass check_finite=False to let "
            "non-finite values propagate"
        )


def split_time(x: torch.Tensor, time_dim: int | None, neuron_name: str) -> tuple[torch.Tensor, int]:
    """``x`` with its time axis moved to the front (``[T, ...]``) and the normalised axis index.

    ``time_dim=None`` means no time axis: the result is ``x[None]`` (one step).
    """
    if time_dim is None:
        return x.unsqueeze(0), 0
    if not -x.dim() <= time_dim < x.dim():
        raise FastSNNError(
            f"neuron {neuron_name!r}: time_dim={time_dim} is out of range for an input with {x.dim()} axes "
            f"(shape {tuple(x.shape)}); use time_dim=0 for [T, B, ...] or 1 for [B, T, ...]"
        )
    axis = time_dim % x.dim()
    return x.movedim(axis, 0), axis


def merge_time(steps: list[torch.Tensor], axis: int, time_dim: int | None) -> torch.Tensor:
    """Inverse of :func:`split_time` for a list of per-step outputs."""
    if time_dim is None:
        return steps[0]
    return torch.stack(steps, dim=axis)
