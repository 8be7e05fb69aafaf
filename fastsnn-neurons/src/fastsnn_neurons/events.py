"""Event-driven inference: replay a trained network's sINT neurons from spike trains.

Inside ``with event_mode(model, coding="bitwise"):`` every count neuron of ``model`` runs as an
integrate-and-fire neuron with soft reset instead of handing on its counts directly:

1. **integrate** — it sums its input train over the input's steps: ``V = Σ_s I_s`` (a dense
   input, e.g. from the first layer, is a one-step train);
2. **threshold** — ``V_th`` and the count ``n = clamp(round(V / V_th), lo, hi)`` come from the
   neuron's own count-mode arithmetic (the same quotient in the same dtype, :func:`torch.round`'s
   half-to-even ties, the same bounds), so ``n`` is the integer count mode gives for ``V``, bit
   for bit. For ``adaptive_threshold`` ``V_th = mean(|V|)/k`` per token, from the integrated
   membrane — an event-driven chip needs that per-token mean too;
3. **fire** — the membrane, charged with ``R = n + ½`` thresholds (whole thresholds plus the
   half-threshold bias of rounding; count mode drops the sub-threshold remainder too), fires over
   ``T`` output steps with the coding's weights ``w_t``: ``e_t = coding.fire(R, t, T)``, soft
   reset ``R ← R − e_t·w_t``. ``R`` is float64, where ``n + ½`` and every reset are exact for any
   count below 2^52 whatever the model's dtype. The greedy rule of every
   :class:`fastsnn.IntegrateFireCoding` emits exactly ``encode(n)`` and leaves ``½``.

The neuron's output is an :class:`EventTrain`: per-step currents ``I_t = e_t · w_t · V_th``.
Linear layers (``F.linear``) act on a train step by step — bias added once, at step 0 — and
give a train again, so ``Σ_t`` of the next layer's input equals the count-mode value. Any other
operation first reads the train out (``Σ_t I_t``), and so does the model's final output.

What holds exactly: every emitted train decodes to the count count mode computes from the same
membrane (ties, bounds and every dtype included); count → events → count round trips; linear
layers are linear in the train. What differs by float re-association only: a train's read-out
``Σ_t e_t·w_t·V_th`` against ``n·V_th``, and a membrane integrated from a train,
``Σ_s W·I_s``, against the dense ``W·Σ_s I_s`` (≈1 ulp per term). So a neuron fed directly by
dense input (the first layer of an MLP, the only neuron of an FFN block) reproduces count mode's
counts exactly; a deeper one reproduces them exactly for its own membrane, which can sit an ulp
away from the dense network's — a value that close to a rounding step ``k + ½`` may round the
other way there.

Event mode is installed from outside the neurons: each neuron gets an entry in
:data:`fastsnn_neurons.neurons.base.forward_overrides` and the model is marked for read-out in
a table of this module, both keyed weakly by the module, so a copy or pickle of the model taken
inside the block is a plain count-mode model.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Union

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn import FastSNNError, IntegrateFireCoding, SpikeCoding, SpikeTensor, SpikingNeuron
from fastsnn.output_read_out import OutputReadOut, SpikeTrainBase, read_out
from fastsnn_neurons.codings import resolve_integrate_fire_coding
from fastsnn_neurons.neurons.base import CountNeuron, check_input, count_recorders, forward_overrides


class EventTrain(SpikeTrainBase):
    """A spike train between layers in event mode (time first, tensor-like).

    - ``currents [T, *S]`` — the real value each step delivers; ``Σ_t currents_t`` is the
      dense value (:meth:`integrate`).
    - ``spikes`` — the event-view :class:`SpikeTensor` (int8 events, coding, ``V_th`` scale) for
      a train a neuron emitted; None for a train computed by a linear layer.

    torch functions accept it: ``F.linear`` (so ``nn.Linear``) maps it step by step to a new
    train; every other function gets ``integrate()`` in its place
    (:class:`fastsnn.output_read_out.SpikeTrainBase`).
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

    to_dense = integrate

    def __repr__(self) -> str:
        coding = f", coding={self.spikes.coding.name!r}" if self.spikes is not None else ""
        return f"EventTrain(steps={self.num_steps}, shape={tuple(self.shape)}{coding})"

    @classmethod
    def __torch_function__(cls, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if func is F.linear:
            return _linear_per_step(*args, **(kwargs or {}))
        return super().__torch_function__(func, types, args, kwargs)  # read out


def _linear_per_step(input: Any, weight: torch.Tensor, bias: torch.Tensor | None = None) -> Any:
    """``F.linear`` on a train: ``W·I_t`` at every step, ``+ b`` at step 0 only."""
    if not isinstance(input, EventTrain) or isinstance(weight, EventTrain) or isinstance(bias, EventTrain):
        return F.linear(*read_out((input, weight, bias)))
    currents = F.linear(input.currents, weight)  # [T, *S, out]
    if bias is not None:
        currents[0] += bias
    return EventTrain(currents)


def integrate_and_fire(
    membrane: torch.Tensor,
    threshold: Union[torch.Tensor, float],
    coding: IntegrateFireCoding,
    lo: int | None = None,
    hi: int | None = None,
    num_steps: int | None = None,
) -> torch.Tensor:
    """Fire an integrated membrane ``[*S]`` as an event train ``[T, *S]`` (int8) under ``coding``.

    The count is count mode's, ``n = clamp(round(V / V_th), lo, hi)`` (:func:`torch.round`: half to
    even; ``threshold`` is a float or a tensor broadcastable to ``membrane``), and
    :func:`fire_counts` emits it. The train decodes to ``n`` exactly.
    """
    quotient = membrane / threshold
    if lo is not None or hi is not None:
        quotient = quotient.clamp(lo, hi)
    return fire_counts(torch.round(quotient), coding, num_steps)


def fire_counts(counts: torch.Tensor, coding: IntegrateFireCoding, num_steps: int | None = None) -> torch.Tensor:
    """An integrate-and-fire neuron with soft reset emitting integer ``counts [*S]`` as events
    ``[T, *S]`` (int8) under ``coding``.

    The membrane starts at ``R = n + ½`` thresholds (float64: exact for ``|n| < 2^52``); for t in
    0…T−1: ``e_t = coding.fire(R, t, T)``, ``R ← R − e_t·w_t``. ``T`` is ``num_steps``, or the fewest
    steps (at least 1) that carry every count; a count that does not fit an explicit ``num_steps``
    is a FastSNNError. ``counts`` may be float (holding integers) or integer.
    """
    whole = counts.detach().to(torch.int64)
    needed = coding.steps_for(whole)
    if num_steps is None:
        num_steps = max(needed, 1)
    elif needed > num_steps:
        raise FastSNNError(
            f"event mode: counts need {needed} steps of coding {coding.name!r} but num_steps={num_steps}; "
            f"raise num_steps, leave it None, or bound the neuron's counts with max_count"
        )
    weights = [int(w) for w in coding.step_weights(num_steps).tolist()]
    residual = whole.to(torch.float64) + 0.5
    events = torch.empty((num_steps, *whole.shape), dtype=torch.int8, device=whole.device)
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
    """One neuron's event-mode step: integrate ``x`` (a train, or a dense one-step input
    ``[..., D]``), take V_th and the counts by the neuron's count-mode arithmetic, fire.

    Returns the output :class:`EventTrain` (currents ``[T, ..., D]``) and records it in
    ``settings.record`` (and the neuron's statistics, inside :func:`fastsnn_neurons.collect_stats`).
    """
    membrane = x.integrate() if isinstance(x, EventTrain) else x
    check_input(membrane, neuron.name)
    counted = neuron._spikes(membrane)  # V_th and n exactly as count mode computes them (NaN/inf checked)
    threshold = counted.scale.detach()
    events = fire_counts(counted.counts, settings.coding, settings.num_steps)
    steps = events.shape[0]
    weights = settings.coding.step_weights(steps, membrane.device).to(membrane.dtype)
    currents = events.to(membrane.dtype) * (weights.view((steps,) + (1,) * membrane.dim()) * threshold)
    spikes = SpikeTensor("event", events=events, scale=threshold, coding=settings.coding)
    recorder = count_recorders.get(neuron)
    if recorder is not None:
        recorder.record_events(events, settings.coding)
    train = EventTrain(currents, spikes)
    settings.record.trains[settings.qualname] = train
    return train


#: models inside an :func:`event_mode` block: they return dense tensors, never trains
_read_out_outputs = OutputReadOut(read_out)


def is_replayable(module: nn.Module) -> bool:
    """Whether :func:`event_mode` can replay ``module``: a count neuron giving one count per value."""
    return isinstance(module, CountNeuron) and module.one_step


@contextmanager
def event_mode(
    model: nn.Module, coding: Union[str, SpikeCoding] = "bitwise", num_steps: int | None = None
) -> Iterator[EventRecord]:
    """Run ``model``'s neurons event-driven inside the block; yields an :class:`EventRecord`.

    ``coding`` is a registered coding name (or object) implementing
    :class:`fastsnn.IntegrateFireCoding` (every coding of this package, and any plugin's that
    implements it); ``num_steps`` fixes the output window of every neuron (None: the fewest steps
    per call). The model's output is read out to a dense tensor. Use it for inference
    (``model.eval()``, ``torch.no_grad()``): the replay has no surrogate.

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
        if not is_replayable(neuron):
            raise FastSNNError(
                f"event_mode: neuron {where} ({type(neuron).__name__}) cannot be replayed from events; only "
                "sINT count neurons (adaptive_threshold, fixed_threshold, one-step lif_sint) can. Binary "
                "if/lif and multi-step lif_sint already emit their spikes step by step: run them as they are"
            )
        if neuron in forward_overrides:
            raise FastSNNError(f"event_mode: neuron {where} is already in event mode (nested event_mode blocks)")
        if neuron.signed and not coding_obj.signed:
            raise FastSNNError(
                f"event_mode: neuron {where} is signed but coding {coding_obj.name!r} carries only counts >= 0; "
                "use ternary, bitwise_bidirectional or twos_complement, or an unsigned neuron (signed=false)"
            )
    record = EventRecord(coding_obj)
    for name, neuron in neurons:
        forward_overrides[neuron] = functools.partial(
            run_event_neuron, settings=EventSettings(coding_obj, num_steps, name, record)
        )
    _read_out_outputs.mark(model)
    try:
        yield record
    finally:
        _read_out_outputs.unmark(model)
        for _, neuron in neurons:
            forward_overrides.pop(neuron, None)
