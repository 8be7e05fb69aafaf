"""ONNX export of count-mode models checked with ONNX Runtime: a converted MLP, a hybrid
SpikingLM's prefill (float and W8ASpike) through the CLI, and the errors — data-dependent control
flow, a missing extra."""

from __future__ import annotations

import sys

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import fastsnn
from fastsnn.convert import convert
from fastsnn.model import build_model
from fastsnn.testing import use_plugins

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from fastsnn.export.dispatch import export_model
from fastsnn.export.onnx_graph import export_onnx


@pytest.fixture(autouse=True)
def _plugins(monkeypatch):
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", "fastsnn-neurons,fastsnn-convert,fastsnn-attention")
    with use_plugins(entry_points=True):
        yield


def test_a_converted_mlp_runs_the_same_in_onnxruntime(tmp_path):
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5))
    snn, _ = convert(ann, neuron={"name": "adaptive_threshold", "signed": False})
    x = torch.randn(8, 12)
    report = export_onnx(snn.eval(), x, tmp_path / "mlp.onnx")
    assert report["input_shape"] == [8, 12] and report["output_shape"] == [8, 5]
    assert report["max_abs_diff"] < 1e-4 * max(1.0, report["max_abs_output"])
    assert snn[1].neuron.params.check_finite  # the NaN check is restored after the export


def test_the_lm_prefill_exports_through_the_cli_float_and_w8(tmp_path):
    model = build_model({"vocab_size": 40, "d_model": 32, "n_layers": 2, "n_heads": 2, "max_seq_len": 64,
                         "attention": [{"name": "linear"}, {"name": "swa", "window": 8}]}, seed=0)
    folder = model.save_pretrained(tmp_path / "lm")
    from fastsnn.cli.main import cli

    for extra, name in (([], "lm.onnx"), (["--quantize", "w8"], "lm_w8.onnx")):
        result = CliRunner().invoke(cli, ["export", str(folder), "--format", "onnx", "--out", str(tmp_path / name),
                                          "--set", "seq_len=24", *extra])
        assert result.exit_code == 0, result.output
        assert "graph fixed to input ids 1×24" in result.output
        diff = float(result.output.split("max |onnx − torch| = ")[1].split()[0])
        assert diff < 1e-3, result.output
    import onnx

    def initializer_bytes(name):
        sizes = {}
        for init in onnx.load(str(tmp_path / name)).graph.initializer:
            sizes[init.data_type] = sizes.get(init.data_type, 0) + len(init.raw_data)
        return sizes

    plain, w8 = initializer_bytes("lm.onnx"), initializer_bytes("lm_w8.onnx")
    int8, float32 = onnx.TensorProto.INT8, onnx.TensorProto.FLOAT
    assert int8 not in plain and w8[int8] > 0.2 * plain[float32]  # the weights are stored as int8 …
    assert w8[float32] < 0.25 * plain[float32]  # … and not folded back into float copies


def test_data_dependent_control_flow_is_a_clear_error(tmp_path):
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            y = self.fc(x)
            if y.sum() > 0:  # a branch on a value: ONNX would bake in one side
                return y * 2
            return y

    with pytest.raises(fastsnn.FastSNNError, match=r"ONNX cannot express Branchy: its forward\(\) branches on tensor "
                                                     r"values \(data-dependent control flow"):
        export_onnx(Branchy(), torch.randn(2, 4), tmp_path / "b.onnx")
    assert not (tmp_path / "b.onnx").exists() and list(tmp_path.iterdir()) == []


def test_the_onnx_exporter_needs_a_language_model_and_the_extra(tmp_path, monkeypatch):
    with pytest.raises(fastsnn.FastSNNError, match="builds its example input for SpikingLM models"):
        export_model(nn.Linear(2, 2), "onnx", tmp_path / "x.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(fastsnn.FastSNNError, match=r"ONNX export needs onnxruntime: pip install fastsnn-core\[onnx\]"):
        export_onnx(nn.Linear(2, 2), torch.zeros(1, 2), tmp_path / "x.onnx")
