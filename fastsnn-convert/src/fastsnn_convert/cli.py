"""``fastsnn convert MODULE:CALLABLE``: convert, calibrate, save as a model folder, print the report.

Registered by fastsnn-convert through ``fastsnn_register_commands`` (core never imports this package).
Every input is checked — the model imports and builds, the weights load, the calibration data is a
non-empty finite array the model accepts — before anything is written; the folder is written
atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import torch

from fastsnn import FastSNNError, get_registry
from fastsnn.convert import convert
from fastsnn.model_folder import load_into
from fastsnn.safe_io import check_writable_destination
from fastsnn_convert.calibrate import METHODS, calibrate
from fastsnn_convert.folder import build_source_model, conversion_record, save_converted


def load_calibration_data(path: Path) -> torch.Tensor:
    """Calibration inputs ``[N, ...]`` from a ``.npy`` file or a ``.safetensors`` file (its one tensor,
    or the tensor named ``inputs``).

    :raises FastSNNError: an unknown suffix, an unreadable file, no samples, a non-numeric or
        non-finite array.
    """
    suffix = path.suffix.lower()
    if not path.is_file():
        raise FastSNNError(f"calibration data {path} not found")
    if suffix == ".npy":
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy ships with the test environments
            raise FastSNNError("reading .npy calibration data needs numpy: pip install numpy") from None
        try:
            array = np.load(path, allow_pickle=False)
        except Exception as err:
            raise FastSNNError(f"calibration data {path} is not a readable .npy array ({err})") from err
        if array.dtype.kind not in "fiub":
            raise FastSNNError(f"calibration data {path} holds {array.dtype} values; it must be a numeric array")
        data = torch.from_numpy(array.astype("float32", copy=False))
    elif suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise FastSNNError(f"calibration data {path} is not a readable safetensors file ({err})") from err
        if "inputs" in tensors:
            data = tensors["inputs"]
        elif len(tensors) == 1:
            data = next(iter(tensors.values()))
        else:
            raise FastSNNError(
                f"calibration data {path} holds {len(tensors)} tensors ({', '.join(sorted(tensors)[:8])}); "
                "name the inputs 'inputs' or store one tensor"
            )
        data = data.float()
    else:
        raise FastSNNError(f"calibration data {path}: use a .npy or .safetensors file, got {suffix or 'no suffix'!r}")
    if data.dim() == 0 or data.shape[0] == 0 or data.numel() == 0:
        raise FastSNNError(f"calibration data {path} is empty (shape {tuple(data.shape)}); it must be [N, ...] with N >= 1")
    if not bool(torch.isfinite(data).all()):
        bad = int((~torch.isfinite(data)).sum())
        raise FastSNNError(f"calibration data {path} holds {bad} NaN/inf value(s); clean or drop those samples")
    return data


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load a safetensors state dict into the ANN, every tensor checked (names, shapes, dtypes)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise FastSNNError(f"weights {path} not found")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise FastSNNError(f"weights {path} is not a readable safetensors file ({err})") from err
    load_into(model, state, source=f"weights {path}")


@click.command("convert")
@click.argument("source", metavar="MODULE:CALLABLE")
@click.option("--weights", type=click.Path(path_type=Path), help="safetensors weights for the ANN (its state dict).")
@click.option("--calib", "calib", type=click.Path(path_type=Path), required=True,
              help="calibration inputs [N, ...]: a .npy file or a .safetensors file.")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="model folder to write.")
@click.option("--neuron", default=None, help="spiking neuron by name (default: fixed_threshold for max/percentile, "
                                             "adaptive_threshold for dynamic).")
@click.option("--method", type=click.Choice(METHODS), default="percentile", show_default=True,
              help="threshold calibration.")
@click.option("--percentile", type=float, default=99.9, show_default=True, help="for --method percentile.")
@click.option("--per-channel", is_flag=True, help="one range per channel (max/percentile).")
@click.option("--levels", type=int, default=255, show_default=True,
              help="count levels over each range (max/percentile); fastsnn_convert.set_time_steps changes them.")
@click.option("--max-rel-error", type=float, default=0.05, show_default=True, help="target error (dynamic).")
@click.option("--batch-size", type=int, default=256, show_default=True, help="calibration batch size.")
@click.option("--report", "report_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def convert_command(source: str, weights: Path | None, calib: Path, out: Path, neuron: str | None, method: str,
                    percentile: float, per_channel: bool, levels: int, max_rel_error: float, batch_size: int,
                    report_format: str) -> None:
    """Convert the ANN that MODULE:CALLABLE builds into a spiking network, calibrated on --calib, saved to --out.

    The folder records MODULE:CALLABLE and the settings, so fastsnn_convert.load_converted(OUT) rebuilds it.
    """
    if batch_size < 1:
        raise FastSNNError(f"--batch-size must be at least 1, got {batch_size}")
    neuron = neuron or ("adaptive_threshold" if method == "dynamic" else "fixed_threshold")
    registry = get_registry()
    registry.get("neuron", neuron)  # an unknown or uninstalled neuron: named, with what is installed
    check_writable_destination(out, "model folder")
    ann = build_source_model(source)
    if weights is not None:
        load_weights(ann, weights)
    data = load_calibration_data(calib)
    snn, report = convert(ann.eval(), neuron=neuron, inplace=True)
    calibration = None
    calibration_text = "calibration: skipped — the model has no spiking layers"
    settings: dict[str, Any] = {"method": method, "data": str(calib), "samples": int(data.shape[0])}
    if any(r.replacement == "SpikingActivation" for r in report.replaced):
        batches = [data[i:i + batch_size] for i in range(0, data.shape[0], batch_size)]
        calibration = calibrate(snn, batches, method=method, percentile=percentile, per_channel=per_channel,
                                levels=levels, max_rel_error=max_rel_error)
        settings.update({"percentile": percentile, "per_channel": per_channel, "levels": levels})
        calibration_text = str(calibration)
    record = conversion_record(snn, source=source, neuron=neuron, calibration=settings)
    folder = save_converted(snn, out, record)
    if report_format == "json":
        click.echo(json.dumps({
            "out": str(folder), "conversion": report.as_dict(),
            "calibration": None if calibration is None else _calibration_dict(calibration),
        }, indent=2, default=str))
    else:
        click.echo(str(report))
        click.echo(calibration_text)
        click.echo(f"wrote {folder} (load with fastsnn_convert.load_converted)")


def _calibration_dict(report: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {"method": report.method, "max_rel_error": report.max_rel_error, "all_met": report.all_met,
            "layers": [{k: v for k, v in asdict(layer).items() if k != "trials"} for layer in report.layers]}
