"""The ``event_inference`` block: a converted network run event-driven (see :mod:`fastsnn_convert.events`
for the spike trains, the settings each layer runs under and what a block records)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn

from fastsnn import FastSNNError, SpikeCoding
from fastsnn.output_read_out import OutputReadOut, read_out
from fastsnn.spike_tensor import resolve_coding
from fastsnn_convert.events import EventRecord, EventSettings
from fastsnn_convert.modules import SpikingActivation


@contextmanager
def event_inference(model: nn.Module, coding: str | SpikeCoding = "bitwise",
                    num_steps: int = 8) -> Iterator[EventRecord]:
    """Run ``model``'s spiking activations event-driven inside the block; yields an :class:`EventRecord`.

    Every :class:`~fastsnn_convert.SpikingActivation` emits its counts as a ``num_steps``-step train
    under ``coding`` (a registered name or object); the model's output is read out to dense tensors.
    Counts must fit: :func:`fastsnn_convert.set_time_steps` bounds them for a coding and ``num_steps``
    (an unbounded neuron whose counts do not fit is an error naming the layer). For inference
    (``model.eval()``, ``torch.no_grad()``).

    :raises FastSNNError: no spiking activation in ``model``, a signed layer with an unsigned coding,
        or ``model`` already inside an event-inference block.
    """
    coding_obj = resolve_coding(coding)
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise FastSNNError(f"num_steps must be a positive integer, got {num_steps!r}")
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, SpikingActivation)]
    if not layers:
        raise FastSNNError(
            f"event_inference: {type(model).__name__} has no spiking activations; convert it first "
            "(fastsnn.convert.convert)"
        )
    for name, layer in layers:
        if layer._event is not None:
            raise FastSNNError(f"event_inference: layer {name} is already in an event-inference block")
        if layer.can_be_negative and not coding_obj.signed:
            raise FastSNNError(
                f"event_inference: layer {name} ({type(layer.activation).__name__}, signed neuron) can emit negative "
                f"counts but coding {coding_obj.name!r} carries only counts >= 0; use ternary, "
                "bitwise_bidirectional or twos_complement"
            )
    record = EventRecord(coding_obj, num_steps)
    for name, layer in layers:
        layer._event = EventSettings(coding_obj, num_steps, name, record)
        record.layer(name)
    _read_out_outputs.mark(model)
    try:
        yield record
    finally:
        _read_out_outputs.unmark(model)
        for _, layer in layers:
            layer._event = None


#: models inside an event_inference block: their outputs are read out to dense tensors
_read_out_outputs = OutputReadOut(read_out)
