"""SpikeScope: statistics and the energy proxy against hand-computed references, the report files,
the HTML in a real headless browser, ``fastsnn scope`` and every bad input the issue names."""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import fastsnn
from fastsnn import FastSNNError
from fastsnn.cli.main import cli
from fastsnn.config import ModelConfig
from fastsnn.data.text import CharTokenizer
from fastsnn.model import build_model
from fastsnn.quantize import quantize_model
from fastsnn.spikescope import (
    HTML_FILE,
    INSTALL_HINT,
    JSON_FILE,
    EnergyTable,
    check_report_folder,
    write_report,
)
from fastsnn.testing import use_plugins
from toy_plugins import HalfNeuron, make_plugin

TEXT = "the quick brown fox jumps over the lazy dog. " * 20


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


def mlp(signed: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    layers = [nn.Linear(6, 8)] + ([] if signed else [nn.ReLU()]) + [HalfNeuron(threshold=0.25), nn.Linear(8, 3)]
    return nn.Sequential(*layers)


def inputs(n: int = 3) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(4, 5, 6, generator=generator) for _ in range(n)]


def toy_lm(**overrides):
    values = dict(vocab_size=40, d_model=16, n_layers=2, n_heads=2, max_seq_len=64, attention="cummean",
                  neuron={"name": "half", "threshold": 0.05})
    return build_model(ModelConfig(**{**values, **overrides}), seed=0).eval()


# -- statistics and operations against a naive reference ---------------------------------------------
def test_mlp_statistics_and_operations_match_a_hand_computed_reference():
    model, batches = mlp(), inputs()
    report = fastsnn.scope(model, batches, progress=False)
    with torch.no_grad():
        counts = torch.cat([torch.relu(model[0](x)).div(0.25).round().reshape(-1, 8) for x in batches])  # [60, 8]
    (layer,) = report.layers
    assert layer.name == "2" and layer.neuron == "HalfNeuron" and layer.units == 8 and layer.values == counts.numel()
    assert layer.firing_rate == pytest.approx(counts.abs().mean().item())
    assert layer.sparsity == pytest.approx((counts == 0).float().mean().item())
    assert layer.silent == pytest.approx((counts == 0).all(0).float().mean().item())
    assert layer.saturated == pytest.approx((counts != 0).all(0).float().mean().item())
    assert layer.histogram == dict(Counter(int(c) for c in counts.flatten().tolist()))
    assert layer.events == int(counts.abs().sum())  # unary: one event per unit count
    unit = layer.codings["unit"]  # the toy coding: T = the largest count, one event per unit
    assert unit.steps == int(counts.max()) and unit.events == int(counts.sum()) and unit.error is None

    rows = counts.shape[0]
    first, second = report.ops
    assert (first.name, first.macs, first.fed_by, first.acs) == ("0", rows * 6 * 8, None, None)
    assert (second.name, second.macs, second.fed_by) == ("3", rows * 8 * 3, "2")
    assert second.fan_out == 3 and second.acs == pytest.approx(counts.abs().sum().item() * 3)  # events × fan-out
    table = EnergyTable()
    energy = report.energy
    assert energy.macs == first.macs + second.macs and energy.acs == pytest.approx(second.acs)
    assert energy.dense_fp16_pj == pytest.approx(energy.macs * table.mac_fp16)
    assert energy.dense_int8_pj == pytest.approx(energy.macs * table.mac_int8)
    assert energy.spiking_pj == pytest.approx(first.macs * table.mac_fp16 + second.acs * table.add_int8)
    assert report.batches == 3 and report.inputs == 3 * 4 * 5 * 6 and report.notes == []


def test_convolutions_count_macs_and_their_average_fan_out():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), HalfNeuron(threshold=0.2), nn.Conv2d(2, 4, 3, padding=1))
    x = torch.randn(2, 1, 7, 7)
    report = fastsnn.scope(model, [x], progress=False)
    first, second = report.ops
    assert first.kind == "conv" and first.macs == 2 * 2 * 5 * 5 * 1 * 9  # output values × in/groups × kernel
    assert second.macs == 2 * 4 * 5 * 5 * 2 * 9 and second.fed_by == "2"
    assert second.fan_out == pytest.approx(second.macs / (2 * 2 * 5 * 5))
    (layer,) = report.layers
    assert second.acs == pytest.approx(second.macs * layer.events / layer.values)


def test_a_coding_that_cannot_carry_the_counts_is_reported_and_refused_as_the_ac_coding():
    model, batches = mlp(signed=True), inputs()
    (layer,) = fastsnn.scope(model, batches, progress=False).layers
    assert layer.count_range[0] < 0 and layer.codings["unit"].steps is None and "unsigned" in layer.codings["unit"].error
    with pytest.raises(FastSNNError, match=r"layer 1: coding 'unit' cannot carry its counts -\d+…\d+ \(unit coding is unsigned\)"):
        fastsnn.scope(model, batches, coding="unit", progress=False)
    with pytest.raises(FastSNNError, match="did you mean"):
        fastsnn.scope(model, batches, coding="uni", progress=False)


def test_the_language_model_reports_every_ffn_neuron_also_when_its_spikes_go_straight_to_int8_layers():
    model = toy_lm()
    ids = [torch.randint(0, 40, (2, 12), generator=torch.Generator().manual_seed(i)) for i in range(2)]
    dense = fastsnn.scope(model, ids, progress=False)
    assert [layer.name for layer in dense.layers] == ["blocks.0.ffn.neuron", "blocks.1.ffn.neuron"]
    assert {op.name: op.fed_by for op in dense.ops if op.fed_by} == {
        "blocks.0.ffn.down": "blocks.0.ffn.neuron", "blocks.1.ffn.down": "blocks.1.ffn.neuron"}
    assert dense.inputs == 2 * 2 * 12

    quantize_model(model)  # the FFN now hands the neuron's SpikeTensor to Int8Linear (no neuron forward)
    quantized = fastsnn.scope(model, ids, progress=False)
    assert [layer.name for layer in quantized.layers] == [layer.name for layer in dense.layers]
    assert {op.name: op.fed_by for op in quantized.ops if op.fed_by} == {
        op.name: op.fed_by for op in dense.ops if op.fed_by}
    for a, b in zip(dense.layers, quantized.layers):
        assert a.values == b.values and b.firing_rate == pytest.approx(a.firing_rate, rel=0.1)


def test_scope_leaves_the_model_as_it_was():
    model = mlp()
    model.train()
    fastsnn.scope(model, inputs(1), progress=False)
    assert model.training and all(m.training for m in model.modules())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_the_report_survives_pickle_deepcopy_and_json(tmp_path):
    report = fastsnn.scope(mlp(), inputs(), energy={"mac_fp16": 0.9}, progress=False)
    assert pickle.loads(pickle.dumps(report)) == report
    assert copy.deepcopy(report) == report
    data = json.loads(json.dumps(report.to_dict()))
    assert data["energy"]["table"] == {"mac_fp16": 0.9, "mac_int8": 0.23, "add_int8": 0.03}
    assert data["layers"][0]["histogram"]["counts"] == sorted(report.layers[0].histogram)
    assert data["summary"]["spiking_layers"] == 1 and data["format"] == "fastsnn-scope"


def test_energy_table_defaults_and_overrides():
    assert EnergyTable().as_dict() == {"mac_fp16": 1.5, "mac_int8": 0.23, "add_int8": 0.03}
    assert EnergyTable.from_overrides(EnergyTable.parse(["add_int8=0.05"])).add_int8 == 0.05
    with pytest.raises(FastSNNError, match="unknown operation.*mac_fp32.*the table has add_int8, mac_fp16, mac_int8"):
        EnergyTable.from_overrides({"mac_fp32": 4.6})
    with pytest.raises(FastSNNError, match="mac_fp16 must be a finite number of pJ >= 0, got -1"):
        EnergyTable.from_overrides({"mac_fp16": -1})
    with pytest.raises(FastSNNError, match="write NAME=PJ"):
        EnergyTable.parse(["mac_fp16"])
    with pytest.raises(FastSNNError, match="'x' is not a number of pJ"):
        EnergyTable.parse(["mac_fp16=x"])


# -- the report folder --------------------------------------------------------------------------------
def png_pixels(data: bytes) -> np.ndarray:
    """An RGB PNG decoded to ``[H, W, 3]`` int values."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int64)


def test_the_report_folder_holds_html_json_and_readable_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    report = fastsnn.scope(mlp(), inputs(), name="tiny mlp", progress=False)
    written = write_report(tmp_path / "out", report)
    assert written.files == ["energy.png", "firing.png", "histograms.png", HTML_FILE, JSON_FILE, "steps.png"]
    assert written.notices == []
    for name in ("energy.png", "firing.png", "histograms.png", "steps.png"):
        image = png_pixels((tmp_path / "out" / name).read_bytes())
        assert image.shape[1] >= 300 and image.std() > 20  # drawn, not blank
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 8
    page = (tmp_path / "out" / HTML_FILE).read_text()
    assert page.count('src="data:image/png;base64,') == 4 and "http" not in page.replace("http-equiv", "")
    assert json.loads((tmp_path / "out" / JSON_FILE).read_text())["name"] == "tiny mlp"


def test_comparing_two_models_puts_them_side_by_side(tmp_path):
    pytest.importorskip("matplotlib")
    a = fastsnn.scope(mlp(), inputs(), name="before", progress=False)
    b = fastsnn.scope(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), inputs(), name="after",
                      progress=False)
    written = write_report(tmp_path / "cmp", a, b)
    assert "model1_firing.png" in written.files and "model2_energy.png" in written.files
    assert "model2_firing.png" not in written.files  # the dense model has no spiking layers to plot
    page = (tmp_path / "cmp" / HTML_FILE).read_text()
    assert "Side by side" in page and "SpikeScope: before vs after" in page
    assert [r["name"] for r in json.loads((tmp_path / "cmp" / JSON_FILE).read_text())["reports"]] == ["before", "after"]


def chromium_or_skip() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI installs it (.ci/run) so that the report is rendered")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    return found


def headless(chromium: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
        capture_output=True, text=True, timeout=120, check=False)


def test_the_html_report_renders_with_its_plots_in_a_headless_browser(tmp_path):
    pytest.importorskip("matplotlib")
    chromium = chromium_or_skip()
    report = fastsnn.scope(mlp(), inputs(), name="tiny mlp", progress=False)
    write_report(tmp_path / "out", report)
    url = (tmp_path / "out" / HTML_FILE).as_uri()

    dom = headless(chromium, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('<img alt="') == 4 and dom.stdout.count('src="data:image/png;base64,iVBOR') == 4
    assert "<h1>SpikeScope: tiny mlp</h1>" in dom.stdout

    shot = tmp_path / "shot.png"
    result = headless(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", url)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = png_pixels(shot.read_bytes())
    assert image.shape == (2000, 1200, 3)
    assert image.var() > 100  # not a blank page
    # the plots' bars (matplotlib's first colour, #1f77b4) are on screen: the images loaded and drew
    blue = int((np.abs(image - np.array([31, 119, 180])) < 12).all(-1).sum())
    assert blue > 2000, f"only {blue} plot-blue pixels: the embedded plots did not render"


# -- bad input ----------------------------------------------------------------------------------------
def test_token_ids_outside_the_vocabulary_name_the_source_and_what_to_do():
    ids = torch.tensor([[1, 2, 45, 3]])
    with pytest.raises(FastSNNError, match=r"corpus\.txt: batch 0: token id 45 is outside the model's vocabulary "
                                           r"\(vocab_size=40\).*tokenise it with this model's tokenizer"):
        fastsnn.scope(toy_lm(), [ids], source="corpus.txt", progress=False)


def test_inputs_of_the_wrong_shape_name_the_batch_and_the_model():
    batches = [torch.randn(4, 6), torch.randn(4, 5)]
    with pytest.raises(FastSNNError, match=r"data\.pt: batch 1 \(a float32 tensor of shape \[4, 5\]\) does not fit "
                                           r"Sequential: .*give inputs of the shape and type the model was built for"):
        fastsnn.scope(mlp(), batches, source="data.pt", progress=False)
    with pytest.raises(FastSNNError, match="no batches to run"):
        fastsnn.scope(mlp(), [], progress=False)


def test_a_model_without_spiking_layers_gets_a_clear_report_not_an_error(tmp_path):
    dense = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    report = fastsnn.scope(dense, inputs(), progress=False)
    assert report.layers == [] and not report.has_spikes and report.energy.acs == 0
    assert report.energy.spiking_pj == report.energy.dense_fp16_pj and report.energy.saving == 0
    assert "Sequential has no spiking layers" in report.notes[0] and "Convert it" in report.notes[0]
    write_report(tmp_path / "out", report)
    page = (tmp_path / "out" / HTML_FILE).read_text()
    assert "has no spiking layers" in page
    assert json.loads((tmp_path / "out" / JSON_FILE).read_text())["summary"]["spiking_layers"] == 0


def test_without_matplotlib_the_json_and_html_are_written_and_say_how_to_get_plots(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    report = fastsnn.scope(mlp(), inputs(), progress=False)
    written = write_report(tmp_path / "out", report)
    assert written.files == [HTML_FILE, JSON_FILE]
    assert INSTALL_HINT == 'pip install "fastsnn-core[scope]"' and INSTALL_HINT in written.notices[0]
    assert INSTALL_HINT.replace('"', "&quot;") in (tmp_path / "out" / HTML_FILE).read_text()
    assert INSTALL_HINT in json.loads((tmp_path / "out" / JSON_FILE).read_text())["notices"][0]


def test_an_unwritable_output_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    report = fastsnn.scope(mlp(), inputs(1), progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FastSNNError, match=r"--out .*file/out: .*file is a file, not a folder; choose another path"):
        write_report(tmp_path / "file" / "out", report)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("mine")
    with pytest.raises(FastSNNError, match=r"holds other files \(no scope\.json of an earlier report\); choose a new"):
        write_report(tmp_path / "data", report)
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["notes.txt"]

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr("fastsnn.safe_io.os.access",
                        lambda path, mode: False if str(path) == str(locked) else real_access(path, mode))
    with pytest.raises(FastSNNError, match=r"--out .*locked/report: .*locked is not writable; choose another path"):
        write_report(locked / "report", report)
    assert list(locked.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["data", "file", "locked"]


def test_an_earlier_report_is_replaced_whole(tmp_path):
    report = fastsnn.scope(mlp(), inputs(1), progress=False)
    write_report(tmp_path / "out", report, plots=False)
    assert check_report_folder(tmp_path / "out") == tmp_path / "out"
    write_report(tmp_path / "out", report, plots=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind


# -- the command --------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    (tmp_path / "text.txt").write_text(TEXT)
    tokenizer = CharTokenizer.from_text(TEXT)
    toy_lm().save_pretrained(tmp_path / "model", tokenizer=tokenizer.to_dict())
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_the_command_writes_a_report_and_compares_two_models(saved):
    result = invoke("scope", saved / "model", "--data", saved / "text.txt", "--out", saved / "out",
                    "--max-batches", "2", "--seq-len", "16", "--no-plots", "--pj", "mac_fp16=1.0")
    assert result.exit_code == 0, result.output
    assert "blocks.0.ffn.neuron:" in result.output and f"report: {saved / 'out' / HTML_FILE}" in result.output
    data = json.loads((saved / "out" / JSON_FILE).read_text())
    assert data["batches"] == 2 and data["energy"]["table"]["mac_fp16"] == 1.0

    quantized = toy_lm()
    quantize_model(quantized)
    quantized.save_pretrained(saved / "int8", tokenizer=json.loads((saved / "model" / "tokenizer.json").read_text()))
    result = invoke("scope", "--compare", saved / "model", saved / "int8", "--data", saved / "text.txt",
                    "--out", saved / "cmp", "--max-batches", "1", "--seq-len", "16", "--no-plots", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [r["spiking_layers"] for r in summary["reports"]] == [2, 2]


def test_the_command_refuses_bad_arguments_before_any_work(saved):
    run = ("--data", saved / "text.txt", "--max-batches", "1")
    result = invoke("scope", *run, "--out", saved / "x")
    assert result.exit_code == 2 and "give SRC, or --compare A B" in result.output
    result = invoke("scope", saved / "model", *run, "--out", saved / "text.txt" / "out")
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
    result = invoke("scope", saved / "model", *run, "--out", saved / "y", "--pj", "mac_fp32=4.6")
    assert result.exit_code == 2 and "unknown operation(s) mac_fp32" in result.output
    result = invoke("scope", saved / "model", *run, "--out", saved / "y", "--coding", "unt")
    assert result.exit_code == 2 and "did you mean 'unit'" in result.output
    assert not (saved / "x").exists() and not (saved / "y").exists()


def test_text_the_model_cannot_read_is_a_clear_error_naming_the_file(saved):
    # a byte-tokenised token file (256 ids) for a model of 40 ids and no tokenizer of its own
    from fastsnn.data.corpus import prepare_corpus

    corpus = prepare_corpus(saved / "text.txt", "byte", val_fraction=0.0, cache_dir=saved / "cache")
    tokens = next((saved / "cache").rglob("*.tokens"))
    assert len(corpus.tokens) == len(TEXT)
    toy_lm().save_pretrained(saved / "bare")  # no tokenizer.json
    result = invoke("scope", saved / "bare", "--data", tokens, "--out", saved / "out")
    assert result.exit_code == 2
    assert f"{tokens}: its ids come from a byte tokenizer of 256 ids, but {saved / 'bare'} has a vocabulary of 40" \
        in result.output and "tokenise the text with the tokenizer the model was trained with" in result.output
    result = invoke("scope", saved / "bare", "--data", saved / "text.txt", "--out", saved / "out")
    assert result.exit_code == 2 and "was saved without a tokenizer" in result.output
    (saved / "other.txt").write_text(TEXT + "ÆØÅ")
    result = invoke("scope", saved / "model", "--data", saved / "other.txt", "--out", saved / "out")
    assert result.exit_code == 2 and "3 characters are not in" in result.output and "--skip-unknown" in result.output
    assert not (saved / "out").exists()
    result = invoke("scope", saved / "model", "--data", saved / "other.txt", "--out", saved / "out", "--skip-unknown",
                    "--max-batches", "1", "--seq-len", "16", "--no-plots")
    assert result.exit_code == 0 and "left out (--skip-unknown)" in result.output


def test_a_model_without_spiking_layers_is_reported_by_the_command(saved):
    dense = toy_lm(ffn={"name": "swiglu", "spiking": False})
    dense.save_pretrained(saved / "dense", tokenizer=json.loads((saved / "model" / "tokenizer.json").read_text()))
    result = invoke("scope", saved / "dense", "--data", saved / "text.txt", "--out", saved / "out",
                    "--max-batches", "1", "--seq-len", "16", "--no-plots")
    assert result.exit_code == 0, result.output
    assert "SpikingLM has no spiking layers" in result.output


def test_histogram_tallies_match_a_counter_for_narrow_and_wide_ranges():
    from fastsnn.spikescope.plots import _binned
    from fastsnn.train.spike_monitor import add_to_histogram

    generator = torch.Generator().manual_seed(0)
    for counts in (torch.randint(-5, 300, (7, 9), generator=generator).float(),  # bincount path
                   torch.tensor([0, 100_000, -3, 0]),  # wider than 65,536 values: unique path
                   torch.tensor([[2.0]])):
        histogram: dict[int, int] = {}
        add_to_histogram(histogram, counts)
        add_to_histogram(histogram, counts)
        assert histogram == {v: 2 * n for v, n in Counter(int(c) for c in counts.flatten().tolist()).items()}
    assert _binned({0: 5, 3: 2}) == ([-0.5, 0.5, 1.5, 2.5, 3.5], [5, 0, 0, 2], 1)
    edges, freqs, width = _binned({v: 1 for v in range(1000)})
    assert width == 5 and sum(freqs) == 1000 and len(edges) == len(freqs) + 1 == 201
