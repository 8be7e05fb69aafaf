"""fastsnn.data.text: tokenizers, the train/val split and random windows (on small made-up text)."""

from __future__ import annotations

import pytest
import torch

from fastsnn import FastSNNError
from fastsnn.data import CharTokenizer, RandomWindows, TextDataset

TEXT = "to be, or not to be: that is the question.\n" * 20


def test_char_tokenizer_round_trips_and_is_sorted():
    tok = CharTokenizer.from_text(TEXT)
    assert tok.chars == sorted(set(TEXT)) and tok.vocab_size == len(set(TEXT))
    ids = tok.encode("not to be")
    assert ids.dtype == torch.long and tok.decode(ids) == "not to be"
    assert CharTokenizer.from_dict(tok.to_dict()).encode(TEXT).equal(tok.encode(TEXT))


def test_byte_tokenizer_round_trips_any_text():
    tok = CharTokenizer.bytes()
    text = "naïve café ☕"
    ids = tok.encode(text)
    assert tok.vocab_size == 256 and len(ids) == len(text.encode()) and tok.decode(ids) == text


def test_tokenizer_errors():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(FastSNNError, match=r"character 'z' is not in the tokenizer's vocabulary of 3"):
        tok.encode("abz")
    with pytest.raises(FastSNNError, match=r"token id 3 is outside the tokenizer's vocabulary \(0\.\.2\)"):
        tok.decode([0, 3])
    with pytest.raises(FastSNNError, match="must be 'char' or 'byte'"):
        CharTokenizer("word")
    with pytest.raises(FastSNNError, match="distinct single characters"):
        CharTokenizer("char", ["a", "a"])
    with pytest.raises(FastSNNError, match="needs a 'kind'"):
        CharTokenizer.from_dict({"chars": ["a"]})


def test_split_puts_the_first_part_in_train_and_the_rest_in_val():
    data = TextDataset.from_text(TEXT, val_fraction=0.25)
    n = len(TEXT)
    assert len(data.train) == int(n * 0.75) and len(data.val) == n - int(n * 0.75)
    assert data.tokenizer.decode(torch.cat([data.train, data.val])) == TEXT
    assert len(TextDataset.from_text(TEXT, val_fraction=0).val) == 0


def test_from_file_char_and_byte(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(TEXT, encoding="utf-8")
    char = TextDataset.from_file(path)
    byte = TextDataset.from_file(path, tokenizer="byte")
    assert char.tokenizer.kind == "char" and byte.tokenizer.vocab_size == 256
    assert byte.tokenizer.decode(byte.train) == char.tokenizer.decode(char.train)  # ASCII: same split


def test_file_errors(tmp_path):
    with pytest.raises(FastSNNError, match="text file .*missing.txt not found"):
        TextDataset.from_file(tmp_path / "missing.txt")
    with pytest.raises(FastSNNError, match="is not a file"):
        TextDataset.from_file(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(FastSNNError, match="is empty"):
        TextDataset.from_file(tmp_path / "empty.txt")
    (tmp_path / "bin.txt").write_bytes(b"ab\xff\xfecd")
    with pytest.raises(FastSNNError, match="not valid UTF-8 at byte 2; use tokenizer='byte'"):
        TextDataset.from_file(tmp_path / "bin.txt")
    assert TextDataset.from_file(tmp_path / "bin.txt", tokenizer="byte", val_fraction=0).train.tolist() == [
        97, 98, 255, 254, 99, 100]
    with pytest.raises(FastSNNError, match=r"val_fraction must be in \[0, 1\)"):
        TextDataset.from_text(TEXT, val_fraction=1.0)
    with pytest.raises(FastSNNError, match="the text is empty"):
        TextDataset.from_text("")


def test_random_windows_are_real_slices_and_reproducible():
    data = TextDataset.from_text(TEXT)
    batches = list(data.random_windows("train", batch_size=3, seq_len=10, seed=7, num_batches=4))
    again = list(data.random_windows("train", batch_size=3, seq_len=10, seed=7, num_batches=4))
    other = list(data.random_windows("train", batch_size=3, seq_len=10, seed=8, num_batches=4))
    assert len(batches) == 4 and all(b.shape == (3, 10) and b.dtype == torch.long for b in batches)
    assert all(torch.equal(a, b) for a, b in zip(batches, again))
    assert not all(torch.equal(a, b) for a, b in zip(batches, other))
    train_text = data.tokenizer.decode(data.train)
    for row in batches[0]:
        assert data.tokenizer.decode(row) in train_text


def test_random_windows_state_resumes_the_sequence():
    tokens = torch.arange(100)
    source = RandomWindows(tokens, 2, 5, seed=1, num_batches=6)
    it = iter(source)
    first = [next(it) for _ in range(3)]
    state = source.state_dict()
    rest = list(it)
    restored = RandomWindows(tokens, 2, 5, seed=99, num_batches=6)
    restored.load_state_dict(state)
    assert [b.tolist() for b in restored] == [b.tolist() for b in rest]
    assert len(first) == 3 and restored.drawn == 6
    with pytest.raises(FastSNNError, match="bad RandomWindows state"):
        restored.load_state_dict({"drawn": 1})


def test_sequential_windows_cover_every_target_once():
    data = TextDataset.from_text(TEXT, val_fraction=0.5)
    windows = torch.cat(list(data.sequential_windows("val", batch_size=4, seq_len=9)))
    assert windows.shape[1] == 9
    targets = windows[:, 1:].reshape(-1)
    covered = len(targets)
    assert covered == ((len(data.val) - 9) // 8 + 1) * 8
    assert torch.equal(torch.cat([windows[0, :1], targets]), data.val[: covered + 1])


def test_window_errors():
    data = TextDataset.from_text("abcdef", val_fraction=0.5)
    with pytest.raises(FastSNNError, match="has 3 tokens, fewer than one window of seq_len=4"):
        data.random_windows("train", batch_size=1, seq_len=4)
    with pytest.raises(FastSNNError, match="seq_len must be at least 2"):
        list(data.sequential_windows("val", batch_size=1, seq_len=1))
    with pytest.raises(FastSNNError, match="split must be 'train' or 'val'"):
        data.split("test")
    with pytest.raises(FastSNNError, match="batch_size must be positive"):
        RandomWindows(torch.arange(10), 0, 4)
