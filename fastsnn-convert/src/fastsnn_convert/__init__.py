"""FastSNN conversion rules and calibration (distribution ``fastsnn-convert``).

Registers the conversion rules ``relu``, ``gelu``, ``silu`` (activation → spiking neuron) and
``linear`` (Linear → :class:`TemporalLinear`) through the ``fastsnn`` entry point; use them with
:func:`fastsnn.convert.convert`. :func:`calibrate` tunes each inserted neuron's ``k`` on data.
"""

from fastsnn_convert.calibrate import CalibrationReport, LayerCalibration, calibrate
from fastsnn_convert.modules import SpikingActivation, TemporalLinear
from fastsnn_convert.rules import ActivationRule, GELURule, LinearRule, ReLURule, SiLURule

__all__ = [
    "ActivationRule",
    "CalibrationReport",
    "GELURule",
    "LayerCalibration",
    "LinearRule",
    "ReLURule",
    "SiLURule",
    "SpikingActivation",
    "TemporalLinear",
    "calibrate",
]
