"""The .snn file: write/load round trips (float and W8), the CLI (export, inspect, generate), and
every damaged, tampered, foreign or newer file rejected with its own message."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile

import pytest
import torch
from click.testing import CliRunner

import fastsnn
from fastsnn.cli.main import cli
from fastsnn.config import ModelConfig
from fastsnn.data.text import CharTokenizer
from fastsnn.loading import inspect_file, load, load_with_tokenizer
from fastsnn.model import build_model
from fastsnn.quantize import Int8Linear, quantize_model
from fastsnn.snn_file import MANIFEST_FILE, SNN_FORMAT_VERSION, read_snn, write_snn
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin

TEXT = "the quick brown fox jumps over the lazy dog. "


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


def toy_model(**overrides):
    values = dict(vocab_size=32, d_model=16, n_layers=2, n_heads=2, max_seq_len=64, attention="cummean",
                  neuron={"name": "half", "threshold": 0.01})
    return build_model(ModelConfig(**{**values, **overrides}), seed=0).eval()


def tokenizer():
    return CharTokenizer.from_text(TEXT)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def snn(tmp_path):
    return write_snn(toy_model(), tmp_path / "model.snn", tokenizer=tokenizer().to_dict())


def rewrite(path, change):
    """Rebuild the zip at ``path`` with ``change(members: dict[str, bytes])`` applied (a tampering tool)."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    change(members)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_snn_file_round_trips_the_model_and_its_tokenizer(snn):
    model = toy_model()
    loaded, tok = load_with_tokenizer(snn)
    assert loaded.config == model.config and not loaded.training
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    torch.testing.assert_close(loaded(ids), model(ids), rtol=0, atol=0)
    assert tok.to_dict() == tokenizer().to_dict()
    assert zipfile.ZipFile(snn).namelist() == ["manifest.json", "model.safetensors", "config.json", "tokenizer.json"]


def test_the_manifest_records_versions_components_coding_and_member_hashes(snn):
    contents = read_snn(snn)
    manifest = contents.manifest
    assert manifest["format"] == "fastsnn-snn" and manifest["format_version"] == SNN_FORMAT_VERSION
    assert manifest["fastsnn_version"] == fastsnn.__version__
    assert {(c["kind"], c["name"]) for c in manifest["components"]} >= {("neuron", "half"), ("attention", "cummean")}
    assert manifest["requires"] == ["fastsnn-core"]  # in-process toy components need no distribution
    neurons = manifest["spike_coding"]["neurons"]
    assert len(neurons) == 1 and neurons[0]["params"] == {"threshold": 0.01}
    assert neurons[0]["modules"] == ["blocks.0.ffn.neuron", "blocks.1.ffn.neuron"]
    assert manifest["spike_coding"]["event_coding"] is None and manifest["quantization"] is None
    with zipfile.ZipFile(snn) as archive:
        for name, record in manifest["members"].items():
            data = archive.read(name)
            assert record == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        assert archive.getinfo("model.safetensors").compress_type == zipfile.ZIP_STORED


def test_an_event_coding_is_recorded_and_an_unknown_one_named(tmp_path):
    path = write_snn(toy_model(), tmp_path / "m.snn", coding="unit")
    assert read_snn(path).manifest["spike_coding"]["event_coding"] == "unit"
    with pytest.raises(fastsnn.FastSNNError, match="did you mean 'unit'"):
        write_snn(toy_model(), tmp_path / "n.snn", coding="unti")
    assert not (tmp_path / "n.snn").exists()


def test_the_same_model_gives_the_same_bytes(tmp_path):
    a = write_snn(toy_model(), tmp_path / "a.snn").read_bytes()
    b = write_snn(toy_model(), tmp_path / "b.snn").read_bytes()
    assert a == b


def test_a_w8_snn_file_is_small_and_loads_as_the_int8_model(tmp_path):
    model = toy_model(vocab_size=64, d_model=32)
    float_size = write_snn(model, tmp_path / "f.snn").stat().st_size
    quantize_model(model, group_size=16)
    path = write_snn(model, tmp_path / "q.snn")
    assert path.stat().st_size < 0.4 * float_size
    loaded = load(path)
    assert isinstance(loaded.head, Int8Linear) and loaded.head.group_size == 16
    ids = torch.tensor([[3, 1, 4, 1, 5]])
    torch.testing.assert_close(loaded(ids), model(ids), rtol=0, atol=0)
    assert read_snn(path).manifest["quantization"]["group_size"] == 16


def test_a_bf16_model_loads_as_bf16(tmp_path):
    model = toy_model().to(torch.bfloat16)
    path = write_snn(model, tmp_path / "bf16.snn")
    assert path.stat().st_size < 0.6 * write_snn(toy_model(), tmp_path / "f32.snn").stat().st_size
    loaded = load(path)
    assert loaded.embed.weight.dtype == torch.bfloat16
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(loaded(ids), model(ids), rtol=0, atol=0)
    assert load(model.save_pretrained(tmp_path / "folder")).head.weight.dtype == torch.bfloat16


def test_writing_is_atomic_and_honours_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_snn(toy_model(), tmp_path / "m.snn")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.snn"]  # no temp file left behind


def test_fastsnn_load_also_takes_model_and_run_folders(tmp_path):
    model = toy_model()
    folder = model.save_pretrained(tmp_path / "folder")
    ids = torch.tensor([[1, 2]])
    torch.testing.assert_close(load(folder)(ids), model(ids))
    assert fastsnn.load is load


# -- bad files ----------------------------------------------------------------------------------------
def test_a_missing_file_or_a_folder_in_the_way(tmp_path):
    with pytest.raises(fastsnn.FastSNNError, match="nope.snn not found"):
        load(tmp_path / "nope.snn")
    (tmp_path / "dir.snn").mkdir()
    with pytest.raises(fastsnn.FastSNNError, match="a folder is in the way"):
        write_snn(toy_model(), tmp_path / "dir.snn")


def test_a_file_that_is_not_a_zip(tmp_path):
    path = tmp_path / "model.snn"
    path.write_bytes(b"\x80\x04pickle-like bytes")
    with pytest.raises(fastsnn.FastSNNError, match=r"is not a \.snn file \(not a zip archive\)"):
        load(path)


def test_a_truncated_file(snn):
    data = snn.read_bytes()
    snn.write_bytes(data[: len(data) // 2])
    with pytest.raises(fastsnn.FastSNNError, match="truncated or damaged"):
        load(snn)


def test_a_foreign_zip(tmp_path):
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("cat.jpg", b"...")
    with pytest.raises(fastsnn.FastSNNError, match=r"is a zip archive but not a \.snn file \(it has no manifest.json\)"):
        load(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(MANIFEST_FILE, json.dumps({"format": "something-else"}))
    with pytest.raises(fastsnn.FastSNNError, match="says format 'something-else', not 'fastsnn-snn'"):
        load(path)


def test_a_newer_format_version_says_to_upgrade(snn):
    def bump(members):
        manifest = json.loads(members[MANIFEST_FILE])
        manifest.update(format_version=SNN_FORMAT_VERSION + 1, fastsnn_version="9.0.0")
        members[MANIFEST_FILE] = json.dumps(manifest).encode()

    rewrite(snn, bump)
    with pytest.raises(fastsnn.FastSNNError, match=r"format version 2, written by FastSNN 9\.0\.0; this FastSNN .* "
                                                     r"reads format version 1: upgrade fastsnn-core"):
        load(snn)


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.update({"model.safetensors": m["model.safetensors"][:-1] + b"\x01"}),
     "member model.safetensors does not match the size and SHA-256 in the manifest"),
    (lambda m: m.update({"config.json": m["config.json"].replace(b'"d_model": 16', b'"d_model": 17')}),
     "member config.json does not match the size and SHA-256 in the manifest"),
    (lambda m: m.update({"../evil.py": b"import os"}), r"member '\.\./evil\.py' is a path"),
    (lambda m: m.update({"/etc/passwd": b""}), r"member '/etc/passwd' is a path"),
    (lambda m: m.update({"weights.pkl": b"\x80\x04"}), r"unexpected member 'weights\.pkl'"),
    (lambda m: m.pop("tokenizer.json"), "the manifest lists tokenizer.json, which the file lacks"),
    (lambda m: m.pop("model.safetensors"), "member model.safetensors is missing"),
])
def test_a_tampered_file_is_refused(snn, change, message):
    rewrite(snn, change)
    with pytest.raises(fastsnn.FastSNNError, match=message):
        load(snn)


def test_a_member_missing_from_the_manifest_or_a_consistently_edited_weight(snn):
    def unlist(members):
        manifest = json.loads(members[MANIFEST_FILE])
        del manifest["members"]["tokenizer.json"]
        members[MANIFEST_FILE] = json.dumps(manifest).encode()

    rewrite(snn, unlist)
    with pytest.raises(fastsnn.FastSNNError, match="member tokenizer.json is not in the manifest"):
        load(snn)


def test_weights_changed_with_a_fixed_manifest_still_fail_the_config_checksum(snn):
    def forge(members):
        weights = bytearray(members["model.safetensors"])
        weights[-1] ^= 1
        members["model.safetensors"] = bytes(weights)
        manifest = json.loads(members[MANIFEST_FILE])
        manifest["members"]["model.safetensors"]["sha256"] = hashlib.sha256(weights).hexdigest()
        members[MANIFEST_FILE] = json.dumps(manifest).encode()

    rewrite(snn, forge)
    with pytest.raises(fastsnn.FastSNNError, match="the weights do not match the checksum in config.json"):
        load(snn)


def test_a_duplicate_member_is_refused(snn):
    with zipfile.ZipFile(snn, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("config.json", b"{}")
    with pytest.raises(fastsnn.FastSNNError, match="member config.json appears more than once"):
        load(snn)


def test_a_model_without_a_config_cannot_be_a_snn_file(tmp_path):
    with pytest.raises(fastsnn.FastSNNError, match="Sequential has no FastSNN model config"):
        write_snn(torch.nn.Sequential(torch.nn.Linear(2, 2)), tmp_path / "m.snn")


# -- CLI ----------------------------------------------------------------------------------------------
@pytest.fixture
def run_folder(tmp_path):
    folder = toy_model(vocab_size=40).save_pretrained(tmp_path / "run", tokenizer=tokenizer().to_dict())
    return folder


def test_cli_export_snn_then_generate_and_inspect(run_folder, tmp_path):
    out = tmp_path / "model.snn"
    result = invoke("export", run_folder, "--format", "snn", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}\n"
    result = invoke("generate", out, "--prompt", "the quick", "--max-new-tokens", "4", "--temperature", "0")
    assert result.exit_code == 0, result.output
    folder_result = invoke("generate", run_folder, "--prompt", "the quick", "--max-new-tokens", "4", "--temperature", "0")
    assert result.output == folder_result.output and result.output.startswith("the quick")

    result = invoke("inspect", out)
    assert result.exit_code == 0, result.output
    assert ".snn file" in result.output and "format fastsnn-snn version 1" in result.output
    assert "model: vocab 40, d_model 16, 2 layers" in result.output
    assert "quantisation: none" in result.output and "checksum" in result.output and "MISMATCH" not in result.output
    assert "(all installed here)" in result.output and "fastsnn generate works" in result.output
    info = json.loads(invoke("inspect", out, "--json").output)
    assert info["all_verified"] and info["members"][0]["name"] == "manifest.json"
    assert info["weights"]["by_dtype"]["F32"]["values"] == sum(
        t.numel() for t in read_snn(out).tensors.values())


def test_cli_export_quantised(run_folder, tmp_path):
    out = tmp_path / "q.snn"
    result = invoke("export", run_folder, "--format", "snn", "--out", out, "--quantize", "w8", "--group-size", "8")
    assert result.exit_code == 0, result.output
    info = inspect_file(out)
    assert info["quantization"]["weights"] == "w8" and info["quantization"]["group_size"] == 8
    assert "I8" in info["weights"]["by_dtype"]
    assert "quantisation: w8 group 8" in invoke("inspect", out).output
    result = invoke("export", out, "--format", "folder", "--out", tmp_path / "again")  # .snn → folder
    assert result.exit_code == 0, result.output
    assert isinstance(load(tmp_path / "again").head, Int8Linear)


def test_cli_inspect_a_model_folder(run_folder):
    result = invoke("inspect", run_folder)
    assert result.exit_code == 0, result.output
    assert "model folder" in result.output and "format fastsnn-model version 1" in result.output


def test_cli_export_bad_inputs_exit_2(run_folder, tmp_path):
    result = invoke("export", run_folder, "--format", "snnn", "--out", tmp_path / "m.snn")
    assert result.exit_code == 2 and "did you mean 'snn'" in result.output
    (tmp_path / "file").write_text("x")
    result = invoke("export", run_folder, "--format", "snn", "--out", tmp_path / "file" / "m.snn")
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
    result = invoke("export", run_folder, "--format", "snn", "--out", tmp_path / "m.snn", "--set", "colour=red")
    assert result.exit_code == 2 and "colour" in result.output
    result = invoke("export", run_folder, "--out", tmp_path / "m", "--group-size", "8")
    assert result.exit_code == 2 and "--group-size goes with --quantize w8" in result.output
    result = invoke("export", run_folder, "--format", "snn", "--out", tmp_path / "m.snn", "--kv-cache", "int8")
    assert result.exit_code == 2 and "no layer of this model can keep an int8 cache" in result.output
    assert not (tmp_path / "m.snn").exists()


def test_cli_export_unwritable_destination_is_checked_before_work(run_folder, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = invoke("export", run_folder, "--format", "snn", "--out", locked / "m.snn")
    assert result.exit_code == 2 and "not writable" in result.output


def test_cli_inspect_and_generate_bad_files_exit_2(tmp_path, snn):
    (tmp_path / "x.snn").write_bytes(b"hello")
    result = invoke("inspect", tmp_path / "x.snn")
    assert result.exit_code == 2 and "not a .snn file" in result.output
    rewrite(snn, lambda m: m.update({"config.json": m["config.json"] + b" "}))
    result = invoke("inspect", snn)
    assert result.exit_code == 2 and "MISMATCH" in result.output and "does not match its checksum" in result.output
    no_tok = write_snn(toy_model(), tmp_path / "notok.snn")
    result = invoke("generate", no_tok, "--prompt", "hi")
    assert result.exit_code == 2 and "saved without a tokenizer" in result.output
