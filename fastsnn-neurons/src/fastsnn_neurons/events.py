"""Event-driven inference: replay a trained network's sINT neurons from spike trains.

Inside ``with event_mode(model, coding="bitwise"):`` every neuron of ``model`` runs as an
integrate-and-fire neuron with soft reset instead of computing counts directly:

1. **integrate** — it sums its input train over the input's steps: ``V = Σ_s I_s`` (a dense
   input, e.g. from the first layer, is a one-step train);
2. **threshold** — ``V_th`` from the neuron (for ``adaptive_threshold``: ``mean(|V|)/k`` per
   token, computed from the integrated membrane — an event-driven chip would need that
   per-token mean too);
3. **fire** — over ``T`` output steps with step weights ``w_t`` of the coding, starting from
   the residual ``R = V/V_th + ½`` (the ½ makes the replay round to nearest), clipped to the
   neuron's count bounds (a saturating membrane), it emits ``e_t = coding.fire(R, t, T)`` and
   soft-resets ``R ← R − e_t·w_t``. The emitted train decodes to ``⌊V/V_th + ½⌋``.

The neuron's output is an :class:`EventTrain`: per-step currents ``I_t = e_t · w_t · V_th``.
Linear layers (``F.linear``) act on a train step by step — bias added once, at step 0 — and
give a train again, so ``Σ_t`` of the next layer's input equals the count-mode value. Any other
operation first reads the train out (``Σ_t I_t``), and so does the model's final output.

What holds exactly: the emitted events decode to the integer count of the integrated membrane;
count → events → count round trips; linear layers are linear in the train. What does not hold
bit for bit: the integrated membrane ``Σ_s W·I_s`` differs from the dense ``W·Σ_s I_s`` by float
re-association (≈1 ulp per term), so a count whose ``x/V_th`` lies within that distance of a
rounding step ``k+½`` can differ by one; and exact ties ``x/V_th = k+½`` round half up in the
replay but half to even in count mode (:func:`torch.round`). In float64 neither is seen in
practice; the tests compare outputs at float tolerance and counts exactly.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Union

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn import FastSNNError, SpikeCoding, SpikeTensor, SpikingNeuron
from fastsnn_neurons.codings import IntegrateFireCoding, resolve_integrate_fire_coding
from fastsnn_neurons.neurons.base import CountNeuron, check_input, ensure_finite


class EventTrain:
    """A spike train between layers in event mode (time first, tensor-like).

    - ``currents [T, *S]`` — the real value each step delivers; ``Σ_t currents_t`` is the
      dense value (:meth:`integrate`).
    - ``spikes`` — the event-view :class:`SpikeTensor` (int8 events, coding, ``V_th`` scale) for
      a train a neuron emitted; None for a train computed by a linear layer.

    torch functions accept it: ``F.linear`` (so ``nn.Linear``) maps it step by step to a new
    train; every other function gets ``integrate()`` in its place.
    """

    def __init__(self, currents: torch.Tensor, spikes: SpikeTensor | None = None) -> None:
        self.currents = currents
        self.spikes = spikes

    @property
    def num_steps(self) -> int:
        return int(self.currents.shape[0])

    @property
    def shape(self) -> torch.Size:
        """The shape of the dense value (``currents`` without its time axis)."""
        return self.currents.shape[1:]

    def integrate(self) -> torch.Tensor:
        """``Σ_t currents_t``: the dense value of the train, shape ``[*S]``."""
        return self.currents.sum(0)

    def __repr__(self) -> str:
        coding = f", coding={self.spikes.coding.name!r}" if self.spikes is not None else ""
        return f"EventTrain(steps={self.num_steps}, shape={tuple(self.shape)}{coding})"

    @classmethod
    def __torch_function__(cls, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is F.linear:
            return _linear_per_step(*args, **kwargs)
        return func(*_read_out(args), **_read_out(kwargs))


def _linear_per_step(input: Any, weight: torch.Tensor, bias: torch.Tensor | None = None) -> Any:
    """``F.linear`` on a train: ``W·I_t`` at every step, ``+ b`` at step 0 only."""
    if not isinstance(input, EventTrain) or isinstance(weight, EventTrain) or isinstance(bias, EventTrain):
        return F.linear(*_read_out((input, weight, bias)))
    currents = F.linear(input.currents, weight)  # [T, *S, out]
    if bias is not None:
        currents[0] += bias
    return EventTrain(currents)


def _read_out(value: Any) -> Any:
    """Replace every EventTrain inside (nested lists/tuples/dicts) by its dense value."""
    if isinstance(value, EventTrain):
        return value.integrate()
    if isinstance(value, (list, tuple)):
        return type(value)(_read_out(v) for v in value)
    if isinstance(value, dict):
        return {k: _read_out(v) for k, v in value.items()}
    return value


def integrate_and_fire(
    membrane: torch.Tensor,
    threshold: Union[torch.Tensor, float],
    coding: IntegrateFireCoding,
    lo: int | None = None,
    hi: int | None = None,
    num_steps: int | None = None,
) -> torch.Tensor:
    """Fire an integrated membrane ``[*S]`` as an event train ``[T, *S]`` (int8) under ``coding``.

    ``R = clip(V/V_th + ½, lo, hi + ½)``; for t in 0…T−1: ``e_t = coding.fire(R, t, T)``,
    ``R ← R − e_t·w_t``. The train decodes to ``clip(⌊V/V_th + ½⌋, lo, hi)``. ``T`` is
    ``num_steps``, or the fewest steps (at least 1) that carry every count; a count that does
    not fit an explicit ``num_steps`` is a FastSNNError.
    """
    residual = membrane / threshold  # the quotient count mode rounds, in the membrane's dtype
    if residual.dtype in (torch.float16, torch.bfloat16):
        # + ½ and the resets in fp32, where they are exact: in fp16 1025 + ½ rounds to 1026 (bf16:
        # from 129 on), so the train would decode to one more than count mode's round(V/V_th)
        residual = residual.float()
    residual = residual + 0.5
    if lo is not None or hi is not None:
        residual = residual.clamp(lo, None if hi is None else hi + 0.5)
    needed = coding.steps_for(torch.floor(residual))
    if num_steps is None:
        num_steps = max(needed, 1)
    elif needed > num_steps:
        raise FastSNNError(
            f"event mode: counts need {needed} steps of coding {coding.name!r} but num_steps={num_steps}; "
            f"raise num_steps, leave it None, or bound the neuron's counts with max_count"
        )
    weights = [int(w) for w in coding.step_weights(num_steps).tolist()]
    events = torch.empty((num_steps, *membrane.shape), dtype=torch.int8, device=membrane.device)
    for t, weight in enumerate(weights):
        fired = coding.fire(residual, t, num_steps)
        events[t] = fired
        residual = residual - fired.to(residual.dtype) * weight  # soft reset
    return events


@dataclass
class EventSettings:
    """How one neuron runs in event mode (set by :func:`event_mode`)."""

    coding: IntegrateFireCoding
    num_steps: int | None
    qualname: str
    record: EventRecord


@dataclass
class EventRecord:
    """What an :func:`event_mode` block saw: the last train each neuron emitted, by module name."""

    coding: SpikeCoding
    trains: dict[str, EventTrain] = field(default_factory=dict)

    def spikes(self, neuron_name: str) -> SpikeTensor:
        """The event-view SpikeTensor the neuron at ``neuron_name`` emitted last."""
        if neuron_name not in self.trains:
            raise FastSNNError(
                f"no event train recorded for {neuron_name!r}; recorded neurons: {', '.join(self.trains) or 'none'}"
            )
        return self.trains[neuron_name].spikes


def run_event_neuron(neuron: CountNeuron, x: Any, settings: EventSettings) -> EventTrain:
    """One neuron's event-mode step: integrate ``x`` (a train or a dense one-step input), fire."""
    membrane = x.integrate() if isinstance(x, EventTrain) else x
    check_input(membrane, neuron.name)
    if neuron.params.check_finite:
        ensure_finite(membrane, neuron.name)
    threshold = neuron.event_threshold(membrane)
    lo, hi = neuron.count_bounds
    events = integrate_and_fire(membrane, threshold, settings.coding, lo, hi, settings.num_steps)
    steps = events.shape[0]
    weights = settings.coding.step_weights(steps, membrane.device).to(membrane.dtype)
    currents = events.to(membrane.dtype) * (weights.view((steps,) + (1,) * membrane.dim()) * threshold)
    spikes = SpikeTensor("event", events=events, scale=threshold, coding=settings.coding)
    if neuron._stats is not None:
        neuron._stats.record_events(events, settings.coding)
    train = EventTrain(currents, spikes)
    settings.record.trains[settings.qualname] = train
    return train


def _read_out_hook(module: nn.Module, inputs: Any, output: Any) -> Any:
    return _read_out(output)


@contextmanager
def event_mode(
    model: nn.Module, coding: Union[str, SpikeCoding] = "bitwise", num_steps: int | None = None
) -> Iterator[EventRecord]:
    """Run ``model``'s neurons event-driven inside the block; yields an :class:`EventRecord`.

    ``coding`` is a registered coding name (or object) with an integrate-and-fire rule
    (every coding of this package); ``num_steps`` fixes the output window of every neuron
    (None: the fewest steps per call). The model's output is read out to a dense tensor.
    Use it for inference (``model.eval()``, ``torch.no_grad()``): the replay has no surrogate.

    Raises FastSNNError if the model has no neuron, a neuron cannot be replayed (binary
    multi-step ``if``/``lif`` and multi-step ``lif_sint`` already emit a time series), a signed
    neuron meets an unsigned coding, or the model is already in event mode.
    """
    coding_obj = resolve_integrate_fire_coding(coding)
    neurons = [(name, m) for name, m in model.named_modules() if isinstance(m, SpikingNeuron)]
    if not neurons:
        raise FastSNNError(f"event_mode: {type(model).__name__} contains no spiking neuron to replay")
    for name, neuron in neurons:
        where = name or "(the model itself)"
        if not isinstance(neuron, CountNeuron) or not neuron.supports_event_mode:
            raise FastSNNError(
                f"event_mode: neuron {where} ({type(neuron).__name__}) cannot be replayed from events; only "
                "sINT count neurons (adaptive_threshold, fixed_threshold, one-step lif_sint) can. Binary "
                "if/lif and multi-step lif_sint already emit their spikes step by step: run them as they are"
            )
        if neuron._event_settings is not None:
            raise FastSNNError(f"event_mode: neuron {where} is already in event mode (nested event_mode blocks)")
        if neuron.signed and not coding_obj.signed:
            raise FastSNNError(
                f"event_mode: neuron {where} is signed but coding {coding_obj.name!r} carries only counts >= 0; "
                "use ternary, bitwise_bidirectional or twos_complement, or an unsigned neuron (signed=false)"
            )
    record = EventRecord(coding_obj)
    for name, neuron in neurons:
        neuron._event_settings = EventSettings(coding_obj, num_steps, name, record)
    hook = model.register_forward_hook(_read_out_hook)
    try:
        yield record
    finally:
        hook.remove()
        for _, neuron in neurons:
            neuron._event_settings = None
