"""FastSNN conversion rules and calibration (distribution ``fastsnn-convert``).

Registers the conversion rules (activations → spiking neurons; Linear/Conv → temporal layers;
BatchNorm folding; pooling, flatten, dropout) through the ``fastsnn`` entry point; use them with
:func:`fastsnn.convert.convert`. :func:`calibrate` sets thresholds from data (dynamic ``k``, or a
static max/percentile range per layer or channel); :func:`evaluate` runs the result at ``T`` time
steps under a coding, in count or event mode.
"""

from fastsnn_convert.calibrate import CalibrationReport, LayerCalibration, calibrate
from fastsnn_convert.evaluate import Evaluation, evaluate, set_time_steps
from fastsnn_convert.events import SpikeTrain, max_count_for
from fastsnn_convert.fold import fold_batchnorm
from fastsnn_convert.folder import load_converted, save_converted
from fastsnn_convert.inference import event_inference
from fastsnn_convert.modules import (
    SpikingActivation,
    TemporalConv1d,
    TemporalConv2d,
    TemporalFlatten,
    TemporalLinear,
    TemporalPool,
)
from fastsnn_convert.rules import ActivationRule, GELURule, LinearRule, ReLURule, SiLURule

__all__ = [
    "ActivationRule",
    "CalibrationReport",
    "Evaluation",
    "GELURule",
    "LayerCalibration",
    "LinearRule",
    "ReLURule",
    "SiLURule",
    "SpikeTrain",
    "SpikingActivation",
    "TemporalConv1d",
    "TemporalConv2d",
    "TemporalFlatten",
    "TemporalLinear",
    "TemporalPool",
    "calibrate",
    "evaluate",
    "event_inference",
    "fold_batchnorm",
    "load_converted",
    "max_count_for",
    "save_converted",
    "set_time_steps",
]
