"""fastsnn.checkpoint: atomic files and folders, safe loading with errors naming the file."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from fastsnn import FastSNNError
from fastsnn.checkpoint import (
    atomic_write_bytes,
    load_into,
    load_state,
    read_json,
    read_tensors,
    save_model,
    tensors_to_bytes,
    write_directory_atomically,
)


def test_directory_write_replaces_the_whole_folder(tmp_path):
    target = tmp_path / "ckpt"
    write_directory_atomically(target, {"a.bin": b"1", "b.bin": b"2"})
    write_directory_atomically(target, {"c.bin": b"3"})
    assert sorted(p.name for p in target.iterdir()) == ["c.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_a_failed_directory_write_leaves_the_old_folder_intact(tmp_path, monkeypatch):
    target = tmp_path / "ckpt"
    write_directory_atomically(target, {"a.bin": b"old"})
    calls = []

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_directory_atomically(target, {"a.bin": b"new", "b.bin": b"new"})
    assert (target / "a.bin").read_bytes() == b"old" and not (target / "b.bin").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"], "the staging folder was removed"


def test_a_failed_file_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.json"
    atomic_write_bytes(path, b"old")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("io error")))
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_tensors_round_trip_and_corruption_is_named(tmp_path):
    path = tmp_path / "t.safetensors"
    base = torch.arange(6.0)
    atomic_write_bytes(path, tensors_to_bytes({"a": base, "view": base[2:4], "i": torch.tensor([1, 2])}))
    loaded = read_tensors(path)
    assert torch.equal(loaded["view"], torch.tensor([2.0, 3.0])) and loaded["i"].dtype == torch.int64
    path.write_bytes(b"\x00" * 5)
    with pytest.raises(FastSNNError, match=f"{path}: not a readable safetensors file"):
        read_tensors(path)
    with pytest.raises(FastSNNError, match="missing.safetensors not found"):
        read_tensors(tmp_path / "missing.safetensors")


def test_read_json_errors_name_file_and_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{\n"a": 1,\n}')
    with pytest.raises(FastSNNError, match=f"{path}:3: invalid JSON"):
        read_json(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(FastSNNError, match="not a text file"):
        read_json(path)
    with pytest.raises(FastSNNError, match="nope.json not found"):
        read_json(tmp_path / "nope.json")


def test_model_round_trip_with_tied_weights(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(5, 3)
            self.head = nn.Linear(3, 5, bias=False)
            self.head.weight = self.embed.weight

    model = Tied()
    save_model(model, tmp_path, {"name": "tied"})
    state, meta = load_state(tmp_path)
    assert list(state) == ["embed.weight"] and meta["name"] == "tied"
    fresh = Tied()
    load_into(fresh, state, source="tied")
    assert torch.equal(fresh.head.weight, model.embed.weight)


def test_load_into_lists_every_mismatch():
    model = nn.Linear(3, 2)
    state = {"weight": torch.zeros(2, 4), "extra": torch.zeros(1)}
    with pytest.raises(FastSNNError, match=r"(?s)file.bin does not match the model.*missing tensors: bias.*"
                                           r"unexpected tensors: extra.*weight: shape \(2, 4\) in file"):
        load_into(model, state, source="file.bin")
    with pytest.raises(FastSNNError, match=r"weight: dtype torch.float64 in file, model expects torch.float32"):
        load_into(model, {"weight": torch.zeros(2, 3, dtype=torch.float64), "bias": torch.zeros(2)})
