"""fastsnn.safe_io: atomic files and folders, the umask, stale staging, reads whose errors name the file."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from fastsnn import FastSNNError
from fastsnn.model_folder import load_into
from fastsnn.safe_io import (
    atomic_write_bytes,
    check_writable_destination,
    follow_latest,
    read_json,
    read_tensors,
    remove_stale_staging,
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


def test_load_into_lists_every_mismatch():
    model = nn.Linear(3, 2)
    state = {"weight": torch.zeros(2, 4), "extra": torch.zeros(1)}
    with pytest.raises(FastSNNError, match=r"(?s)file.bin does not match the model.*missing tensors: bias.*"
                                           r"unexpected tensors: extra.*weight: shape \(2, 4\) in file"):
        load_into(model, state, source="file.bin")
    with pytest.raises(FastSNNError, match=r"weight: dtype torch.float64 in file, model expects torch.float32"):
        load_into(model, {"weight": torch.zeros(2, 3, dtype=torch.float64), "bias": torch.zeros(2)})


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_and_folders_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "f.json", b"{}")
        write_directory_atomically(tmp_path / "d", {"a.bin": b"1"})
    finally:
        os.umask(old)
    assert (tmp_path / "f.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~umask


def test_stale_staging_left_by_a_killed_writer_is_removed(tmp_path):
    (tmp_path / ".step_00000004.abc.tmp").mkdir()
    (tmp_path / ".step_00000004.abc.tmp" / "model.safetensors").write_bytes(b"half")
    (tmp_path / ".latest.xyz.tmp").write_bytes(b"")
    (tmp_path / "step_00000002").mkdir()
    removed = remove_stale_staging(tmp_path)
    assert sorted(p.name for p in removed) == [".latest.xyz.tmp", ".step_00000004.abc.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["step_00000002"]


def test_follow_latest(tmp_path):
    assert follow_latest(tmp_path) == tmp_path
    (tmp_path / "step_1").mkdir()
    (tmp_path / "latest").write_text("step_1")
    assert follow_latest(tmp_path) == tmp_path / "step_1"
    (tmp_path / "latest").write_text("step_9")
    with pytest.raises(FastSNNError, match="names step_9, which does not exist"):
        follow_latest(tmp_path)


def test_an_output_under_a_regular_file_is_refused_before_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FastSNNError, match="is a file, not a folder"):
        check_writable_destination(tmp_path / "file" / "out", "--out")
    assert check_writable_destination(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
