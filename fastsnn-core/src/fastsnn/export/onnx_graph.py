"""ONNX export of count-mode models, checked with ONNX Runtime.

Needs the optional extra ``pip install fastsnn-core[onnx]`` (onnx, onnxscript — which
``torch.onnx.export`` uses — and onnxruntime), imported on first use.

What is exported is the **count view**: each neuron's ``round``/``clamp`` of its input over a
threshold, multiplied back (an sINT neuron is a few elementwise ops), so any network FastSNN runs
in count mode becomes a plain ONNX graph:

- a :class:`~fastsnn.model.SpikingLM` as its prefill / full forward: ``ids [B, T]`` (int64) →
  logits ``[B, T, vocab]``, without a cache (the graph holds the parallel form of every layer);
- converted MLPs/CNNs and other ``nn.Module`` s: ``x`` → their output.

The graph is **specialised to the example's shape** (batch and sequence length): SWA and
chunked linear attention unroll their blocks for that length. Not expressible (an error, never a
silently different graph): **data-dependent control flow** — a Python ``if``/``while`` on a tensor's
value, ``.item()``/``bool(tensor)`` — and with it the **decoding step** with its cache (positions and
ring-buffer slots depend on how many tokens came before), **event mode** (the number of time steps
depends on the largest spike count) and the **NaN/inf input checks** of the neurons (switched off
while exporting: the ONNX graph propagates NaN instead of raising). Int8 weights (W8ASpike) are
exported as int8 initializers dequantised in the graph (the int8 × int8 product of spike counts
needs a data-dependent range check, so the graph uses the float path).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from pydantic import Field
from torch import nn

from fastsnn.errors import FastSNNError
from fastsnn.export.base import Exporter
from fastsnn.params import Params

INSTALL_HINT = "pip install fastsnn-core[onnx]"


def import_onnx_tools(check: bool = True) -> None:
    """:raises FastSNNError: onnx / onnxscript (/ onnxruntime when ``check``) is missing, saying how to install."""
    names = ["onnx", "onnxscript"] + (["onnxruntime"] if check else [])
    missing = []
    for name in names:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise FastSNNError(f"ONNX export needs {', '.join(missing)}: {INSTALL_HINT}")


class LMForward(nn.Module):
    """A SpikingLM's full forward without its Python-side checks and cache: ``ids [B, T]`` → logits
    ``[B, T, vocab]`` (what the ONNX graph computes; :meth:`SpikingLM.forward` validates ids first)."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.lm.embed(ids)  # (B, T, d)
        if getattr(self.lm, "pos_embed", None) is not None:  # a learned position table (GPT-2)
            x = x + self.lm.pos_embed(torch.arange(ids.shape[1], device=ids.device))  # (T, d) broadcast
        for block in self.lm.blocks:
            x = block(x)
        return self.lm.head(self.lm.norm(x))  # (B, T, vocab)


@contextlib.contextmanager
def finite_checks_off(model: nn.Module) -> Iterator[None]:
    """Within the block no component of ``model`` checks its inputs for NaN/inf (a check is a
    data-dependent branch, which an ONNX graph cannot hold); restored afterwards."""
    changed = []
    for module in model.modules():
        params = getattr(module, "params", None)
        if params is not None and "check_finite" in type(params).model_fields and params.check_finite:
            params.check_finite = False
            changed.append(params)
    try:
        yield
    finally:
        for params in changed:
            params.check_finite = True


def data_dependent_cause(err: BaseException) -> str | None:
    """The message of a data-dependent-control-flow error anywhere in ``err``'s cause chain, or None."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        text = str(err)
        if type(err).__name__ in ("GuardOnDataDependentSymNode", "UserError") or "data-dependent" in text \
                or "data dependent" in text:
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            where = next((line for line in lines if "File " in line or ".py" in line), "")
            return (lines[0] if lines else type(err).__name__) + (f" ({where})" if where else "")
        err = err.__cause__ or err.__context__
    return None


def example_ids(model: nn.Module, batch_size: int = 1, seq_len: int = 64) -> torch.Tensor:
    """Token ids ``[batch_size, min(seq_len, max_seq_len)]`` for exporting a SpikingLM (ids 0…vocab−1)."""
    config = model.config
    length = min(seq_len, config.max_seq_len) if config.max_seq_len else seq_len
    return torch.arange(batch_size * length).view(batch_size, length) % config.vocab_size


def export_onnx(model: nn.Module, example: torch.Tensor, path: str | Path, *, check: bool = True,
                opset: int | None = None) -> dict[str, Any]:
    """Export ``model`` (eval mode, count view) to an ONNX file and check it with ONNX Runtime.

    :param model: a SpikingLM (exported as :class:`LMForward`) or any module taking one tensor.
    :param example: the input the graph is specialised to (``ids [B, T]`` for a SpikingLM).
    :param path: the ``.onnx`` file (written via a temp file + rename).
    :param check: run the file in ONNX Runtime on ``example`` and compare with PyTorch.
    :returns: ``{"path", "input_shape", "output_shape", "max_abs_diff" (None without check),
        "max_abs_output"}``.
    :raises FastSNNError: a missing extra, data-dependent control flow (naming where), or another
        export failure.
    """
    from fastsnn.safe_io import check_writable_destination, current_umask

    import_onnx_tools(check)
    path = check_writable_destination(path, ".onnx file")
    graph_model = LMForward(model) if hasattr(model, "blocks") and hasattr(model, "embed") else model
    graph_model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with finite_checks_off(model), torch.no_grad():
            expected = graph_model(example)
            try:
                program = torch.onnx.export(graph_model, (example,), dynamo=True, verbose=False, optimize=False,
                                            input_names=["input"], output_names=["output"],
                                            **({"opset_version": opset} if opset else {}))
            except Exception as err:
                cause = data_dependent_cause(err)
                if cause:
                    raise FastSNNError(
                        f"ONNX cannot express {type(model).__name__}: its forward() branches on tensor values "
                        f"(data-dependent control flow: {cause}); an ONNX graph is fixed when exported — remove the "
                        "branch (or .item()/bool(tensor)) from forward(), e.g. move checks out of the exported path"
                    ) from None
                raise FastSNNError(f"ONNX export of {type(model).__name__} failed: {type(err).__name__}: "
                                   f"{str(err).splitlines()[0] if str(err) else ''}") from None
        optimize_keeping_int8(program.model)
        program.save(tmp, external_data=False)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    report = {"path": str(path), "input_shape": list(example.shape), "output_shape": list(expected.shape),
              "max_abs_diff": None, "max_abs_output": float(expected.abs().max())}
    if check:
        report["max_abs_diff"] = max_abs_diff_onnxruntime(path, example, expected)
    return report


def optimize_keeping_int8(model: Any) -> None:
    """onnxscript's graph optimisation (constant folding, dead-code removal), except that an int8
    weight is never folded into its float dequantisation (which would store the float copy)."""
    import onnx_ir as ir
    from onnxscript import optimizer

    def should_fold(node: Any) -> bool | None:
        if node.op_type in ("Cast", "CastLike") and node.inputs and node.inputs[0] is not None \
                and node.inputs[0].dtype == ir.DataType.INT8:
            return False
        return None

    optimizer.optimize_ir(model, should_fold=should_fold)


def max_abs_diff_onnxruntime(path: str | Path, example: torch.Tensor, expected: torch.Tensor) -> float:
    """``max |onnxruntime(path)(example) − expected|`` on the CPU execution provider."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its graph optimiser's notes are not the user's business
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: example.cpu().numpy()})
    return float((torch.from_numpy(got).to(expected.dtype) - expected.cpu()).abs().max())


class ONNXExporter(Exporter):
    """Write an ``.onnx`` graph of the count-mode model (a SpikingLM's prefill) and check it with ONNX Runtime."""

    class Params(Params):
        seq_len: int = Field(64, gt=0, description="tokens of the example prompt a SpikingLM's graph is fixed to")
        batch_size: int = Field(1, gt=0, description="batch of the example prompt")
        check: bool = Field(True, description="run the file in ONNX Runtime and report max |onnx − torch|")

    def export(self, model: nn.Module, path: str | Path, metadata: dict[str, Any] | None = None) -> list[Path]:
        if not hasattr(getattr(model, "config", None), "vocab_size"):
            raise FastSNNError("the onnx exporter builds its example input for SpikingLM models; export other "
                               "networks with fastsnn.export.onnx_graph.export_onnx(model, example, path)")
        report = export_onnx(model, example_ids(model, self.params.batch_size, self.params.seq_len), path,
                             check=self.params.check)
        shape = "×".join(map(str, report["input_shape"]))
        self.notes = (f"graph fixed to input ids {shape}",) + (
            (f"onnxruntime check: max |onnx − torch| = {report['max_abs_diff']:.3g} "
             f"(outputs up to {report['max_abs_output']:.3g})",) if report["max_abs_diff"] is not None else ())
        return [Path(report["path"])]


__all__ = ["LMForward", "ONNXExporter", "export_onnx", "finite_checks_off", "max_abs_diff_onnxruntime"]
