"""The modules conversion puts into a network: a spiking activation and a temporal Linear."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn import FastSNNError, SpikeTensor, SpikingNeuron


class SpikingActivation(nn.Module):
    """``neuron(activation(x))``: the ANN activation's output carried as integer spike counts.

    With an adaptive-threshold neuron, ``V_th = mean(|a|)/k`` per token over the last axis and
    ``y = round(a / V_th) · V_th`` where ``a = activation(x)``, so ``|y - a| ≤ V_th / 2``
    elementwise. ``activation=None`` lets the neuron alone replace the activation (for neurons
    that are themselves the non-linearity).

    The neuron is a child module (``self.neuron``), and this wrapper is deliberately *not* a
    :class:`fastsnn.SpikingNeuron` itself: whatever looks for neurons by type — event mode
    (``fastsnn_neurons.event_mode``), statistics (``collect_stats``) — finds the real neuron
    inside, once. In event mode the neuron returns a spike train that the next
    :class:`TemporalLinear` consumes step by step.

    Shapes: ``x [..., D]`` → ``[..., D]``.
    """

    def __init__(self, activation: nn.Module | None, neuron: nn.Module, neuron_ref: Any = None) -> None:
        super().__init__()
        if not isinstance(neuron, nn.Module):
            raise FastSNNError(f"SpikingActivation needs the neuron as an nn.Module, got {type(neuron).__name__}")
        self.activation = activation if activation is not None else nn.Identity()
        self.neuron = neuron
        #: the registry reference the neuron was built from (calibration rebuilds it with a new k)
        self.neuron_ref = neuron_ref
        self._bypass = False

    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        """``x [..., D]`` → the neuron's count-view SpikeTensor of ``activation(x)``."""
        if not isinstance(self.neuron, SpikingNeuron):
            raise FastSNNError(
                f"neuron {type(self.neuron).__name__} has no spikes() method; it is not a fastsnn.SpikingNeuron"
            )
        return self.neuron.spikes(self.activation(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [..., D]`` → ``[..., D]``; the plain activation while :meth:`bypassed`."""
        activated = self.activation(x)
        return activated if self._bypass else self.neuron(activated)

    @contextmanager
    def bypassed(self) -> Iterator[None]:
        """Within the block behave like the original ANN activation (used by calibration)."""
        previous, self._bypass = self._bypass, True
        try:
            yield
        finally:
            self._bypass = previous

    def extra_repr(self) -> str:
        return f"neuron_ref={self.neuron_ref!r}" if self.neuron_ref is not None else ""


class TemporalLinear(nn.Linear):
    """A Linear layer that takes dense tensors of any leading shape or spike trains.

    It shares the converted layer's parameters (same ``weight``/``bias`` tensors, same state-dict
    names), so the converted network computes exactly what the ANN layer did on dense input.

    - ``x [..., in_features]`` (``[B, D]``, ``[B, T, D]``, …) → ``x Wᵀ + b``, shape ``[..., out]``.
    - A count-view :class:`~fastsnn.SpikeTensor` with per-token scale ``s [..., 1]``:
      ``(n Wᵀ) · s + b`` — the matmul runs on the integer counts.
    - An event-view SpikeTensor (``e [T_s, ..., in]``, step weights ``w_t``):
      ``(Σ_t w_t · e_t Wᵀ) · s + b`` — event-driven, one synaptic update per time step. Equal to
      the count path up to float summation order.
    - A tensor-like object with ``__torch_function__`` and a ``shape`` (the spike trains
      ``fastsnn_neurons.event_mode`` passes between layers): handed to ``F.linear``, which it
      overrides (a train maps step by step to a train).
    """

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> TemporalLinear:
        """Wrap ``linear`` without copying: the new layer holds the very same parameters."""
        wrapped = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta")
        wrapped.weight = linear.weight
        wrapped.bias = linear.bias
        return wrapped

    def forward(self, x: torch.Tensor | SpikeTensor) -> torch.Tensor:
        if isinstance(x, SpikeTensor):
            return self._forward_spikes(x)
        if not isinstance(x, torch.Tensor) and not _is_tensor_like(x):
            raise FastSNNError(f"TemporalLinear takes a tensor or a SpikeTensor, got {type(x).__name__}")
        self._check_width(x.shape)
        # a tensor-like (event mode's spike train) handles F.linear itself through __torch_function__
        return F.linear(x, self.weight, self.bias)

    def _forward_spikes(self, x: SpikeTensor) -> torch.Tensor:
        self._check_width(x.shape)
        scale = x.scale
        if x.view == "dense" or (scale.dim() > 0 and scale.shape[-1] != 1):
            # no factorisable per-token scale: the spikes' real value is all we can use
            return F.linear(x.to_dense().to(self.weight.dtype), self.weight, self.bias)
        if x.view == "count":
            synaptic = F.linear(x.counts.to(self.weight.dtype), self.weight)  # (..., out)
        else:
            events = x.spikes  # (T_s, ..., in)
            step_weights = x.coding.step_weights(events.shape[0], events.device).to(self.weight.dtype)
            synaptic = torch.zeros(*events.shape[1:-1], self.out_features, dtype=self.weight.dtype,
                                   device=events.device)
            for t in range(events.shape[0]):  # one synaptic update per time step
                synaptic = synaptic + step_weights[t] * F.linear(events[t].to(self.weight.dtype), self.weight)
        out = synaptic * scale.to(self.weight.dtype)
        return out + self.bias if self.bias is not None else out

    def _check_width(self, shape: torch.Size) -> None:
        if len(shape) == 0 or shape[-1] != self.in_features:
            raise FastSNNError(
                f"TemporalLinear expects inputs [..., {self.in_features}] (e.g. [B, {self.in_features}] or "
                f"[B, T, {self.in_features}]), got shape {tuple(shape)}"
            )


def _is_tensor_like(x: Any) -> bool:
    """Whether ``x`` overrides torch functions itself (``__torch_function__``) and has a shape."""
    return hasattr(type(x), "__torch_function__") and isinstance(getattr(x, "shape", None), torch.Size)
