"""Converted networks as FastSNN model folders, and the ``module:callable`` models they come from.

A converted ``nn.Module`` has no FastSNN ``ModelConfig`` that could rebuild it, so its folder records
**how to rebuild it**: the ``module:callable`` that builds the ANN, the conversion settings (neuron,
rules) and, per spiking layer, the neuron reference calibration chose. Loading imports the callable,
builds the ANN, converts it with the same settings, rebuilds each calibrated neuron, and loads the
folder's weights (checked tensor by tensor: a network that no longer matches is an error, not a
partial load). The folder (``model.safetensors`` + ``config.json``, the one format of
:mod:`fastsnn.model_folder`) holds the *converted* weights — folded BatchNorms, calibrated ranges
``clip`` and thresholds included — so the ANN's own weights file is not needed to load it; the
callable's code is.

``config.json`` gets ``"model": null`` (no ModelConfig) and a ``"converted"`` record::

    {"source": "my_models:make_cnn", "neuron": "fixed_threshold", "rules": null,
     "layers": {"2": {"neuron": {"name": "fixed_threshold", "threshold": 0.0039, ...}}, ...},
     "calibration": {"method": "percentile", ...}, "fastsnn_convert_version": "0.1.0"}
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from fastsnn import FastSNNError, build_ref
from fastsnn.convert import convert
from fastsnn.model_folder import load_into, read_model_folder, save_model_folder
from fastsnn_convert.modules import SpikingActivation

#: the key of the conversion record in a model folder's config.json
RECORD_KEY = "converted"


def import_callable(source: str) -> Callable[..., Any]:
    """The object named by ``"package.module:callable"`` (``callable`` may be dotted: ``mod:Class.build``).

    The current directory is searched too (as ``python -m`` would), so a model file beside the
    command line is found.

    :raises FastSNNError: not of the form ``module:callable``, the module does not import (the
        error says why), the name is missing, or the object is not callable.
    """
    if not isinstance(source, str) or source.count(":") != 1 or not all(source.split(":")):
        raise FastSNNError(
            f"model source {source!r} must be 'module:callable' (e.g. my_models:make_cnn or torchvision.models:resnet18)"
        )
    module_name, attr = source.split(":")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        raise FastSNNError(
            f"model source {source!r}: module {module_name!r} does not import ({type(err).__name__}: {err}); "
            "check the name and that it is on PYTHONPATH (or in the current directory)"
        ) from err
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n)))
            raise FastSNNError(
                f"model source {source!r}: {module_name} has no {attr!r}; its callables: {', '.join(names[:20]) or 'none'}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise FastSNNError(f"model source {source!r}: {attr} is a {type(obj).__name__}, not a callable")
    return obj


def build_source_model(source: str) -> nn.Module:
    """Call the ``module:callable`` with no arguments; it must return an ``nn.Module``."""
    factory = import_callable(source)
    try:
        model = factory()
    except Exception as err:
        raise FastSNNError(f"model source {source!r}: calling it failed ({type(err).__name__}: {err})") from err
    if not isinstance(model, nn.Module):
        raise FastSNNError(f"model source {source!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def conversion_record(snn: nn.Module, *, source: str, neuron: Any, rules: Any = None,
                      calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON record that lets :func:`load_converted` rebuild ``snn``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        own_version = version("fastsnn-convert")
    except PackageNotFoundError:  # pragma: no cover - source tree without install
        own_version = "0+unknown"
    layers = {name: {"neuron": _json_ref(m.neuron_ref)}
              for name, m in snn.named_modules() if isinstance(m, SpikingActivation)}
    return {"source": source, "neuron": _json_ref(neuron), "rules": rules, "layers": layers,
            "calibration": calibration, "fastsnn_convert_version": own_version}


def save_converted(snn: nn.Module, directory: str | Path, record: dict[str, Any]) -> Path:
    """Write ``snn`` as a model folder with its conversion ``record`` (atomically; see
    :func:`fastsnn.model_folder.save_model_folder`)."""
    return save_model_folder(snn, directory, metadata={RECORD_KEY: record})


def load_converted(path: str | Path) -> nn.Module:
    """Rebuild a converted network from its model folder (see the module docstring).

    :raises FastSNNError: not a folder of a converted network, its ``module:callable`` no longer
        imports, or the rebuilt network does not match the stored weights (names, shapes).
    """
    meta, state, folder = read_model_folder(path)
    record = meta.get(RECORD_KEY)
    if not isinstance(record, dict) or "source" not in record:
        raise FastSNNError(
            f"{folder} is a model folder but not of a converted network (no {RECORD_KEY!r} record in config.json); "
            "load it with fastsnn.model.SpikingLM.from_pretrained"
        )
    ann = build_source_model(record["source"])
    snn, _report = convert(ann, neuron=record.get("neuron"), rules=record.get("rules"), inplace=True)
    layers = dict(snn.named_modules())
    for name, entry in (record.get("layers") or {}).items():
        layer = layers.get(name)
        if not isinstance(layer, SpikingActivation):
            raise FastSNNError(
                f"{folder}: layer {name!r} of the stored network is not a spiking layer of the rebuilt one; "
                f"has {record['source']} changed since the folder was written?"
            )
        layer.neuron = build_ref("neuron", entry["neuron"])
        layer.neuron_ref = entry["neuron"]
        clip = state.get(f"{name}.clip" if name else "clip")
        if clip is not None:
            layer.clip = torch.empty_like(clip)
    load_into(snn, state, source=f"model folder {folder}")
    return snn.eval()


def _json_ref(ref: Any) -> Any:
    if ref is None or isinstance(ref, (str, int, float, bool)):
        return ref
    if isinstance(ref, dict):
        return {k: _json_ref(v) for k, v in ref.items()}
    if hasattr(ref, "model_dump"):
        return ref.model_dump(mode="json")
    raise FastSNNError(f"cannot record the neuron reference {ref!r} in a model folder; give the neuron by name")
