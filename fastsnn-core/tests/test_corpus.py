"""Corpora: files, folders and globs tokenised once into cached memory-mapped token files; byte,
char and BPE tokenizers; bad input of each kind; deterministic, resumable, sharded windows."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from fastsnn import FastSNNError
from fastsnn.data import BPETokenizer, CharTokenizer, RandomWindows, tokenizer_from_dict
from fastsnn.data.corpus import prepare_corpus
from fastsnn.data.sources import resolve_sources
from fastsnn.data.token_file import open_token_file

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# -- tokenising and the cache ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["byte", "char"])
def test_a_file_is_tokenised_once_and_split_on_tokens(tmp_path, cache, kind):
    src = write(tmp_path / "t.txt", TEXT + "café\n")
    notes = []
    corpus = prepare_corpus(src, kind, cache_dir=cache, notice=notes.append)
    expected = CharTokenizer.bytes().encode(TEXT + "café\n") if kind == "byte" else \
        CharTokenizer.from_text(TEXT + "café\n").encode(TEXT + "café\n")
    assert torch.equal(torch.from_numpy(corpus.tokens.astype(np.int64)), expected)
    assert corpus.split_at == int(len(expected) * 0.9)
    assert len(corpus.train) + len(corpus.val) == len(expected)
    assert isinstance(corpus.tokens, np.memmap) and corpus.tokens.dtype == np.uint8
    assert corpus.fingerprint["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()  # = sha256sum
    assert len(notes) == 1 and notes[0].startswith("tokenising")
    again = prepare_corpus(src, kind, cache_dir=cache, notice=notes.append)
    assert len(notes) == 1 and again.token_file == corpus.token_file  # reused, not re-tokenised
    moved = write(tmp_path / "elsewhere" / "copy.txt", src.read_bytes())
    assert prepare_corpus(moved, kind, cache_dir=cache).token_file == corpus.token_file  # keyed by content
    write(src, TEXT + "changed\n")
    assert prepare_corpus(src, kind, cache_dir=cache).token_file != corpus.token_file


def test_the_char_vocabulary_comes_from_the_text_and_a_given_tokenizer_keeps_its_ids(tmp_path, cache):
    corpus = prepare_corpus(write(tmp_path / "a.txt", "abcab"), "char", cache_dir=cache, val_fraction=0.0)
    assert corpus.tokenizer.chars == ["a", "b", "c"]
    given = CharTokenizer("char", ["c", "b", "a", "z"])
    other = prepare_corpus(tmp_path / "a.txt", given, cache_dir=cache, val_fraction=0.0)
    assert other.tokens.tolist() == [2, 1, 0, 2, 1]


def test_unknown_characters_are_an_error_in_training_and_counted_in_evaluation(tmp_path, cache):
    src = write(tmp_path / "a.txt", "abé€a€")
    tok = CharTokenizer("char", ["a", "b"])
    with pytest.raises(FastSNNError, match=r"character 'é' is not in the tokenizer's vocabulary of 2 characters "
                                           r"\(3 unknown character\(s\) of 2 kind\(s\)\)"):
        prepare_corpus(src, tok, cache_dir=cache)
    corpus = prepare_corpus(src, tok, cache_dir=cache, unknown="skip", val_fraction=0.0)
    assert corpus.tokens.tolist() == [0, 1, 0]
    assert corpus.unknown == {"é": 1, "€": 2}


def test_a_folder_joins_its_text_files_in_order_skipping_hidden_and_binary_ones(tmp_path, cache):
    root = tmp_path / "books"
    write(root / "b.txt", "second\n")
    write(root / "a" / "z.md", "first\n")
    write(root / ".git" / "HEAD", "hidden\n")
    write(root / "image.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    notes = []
    corpus = prepare_corpus(root, "byte", cache_dir=cache, val_fraction=0.0, notice=notes.append)
    assert bytes(corpus.tokens) == b"first\nsecond\n"
    assert notes[0] == f"skipped 1 binary file(s) in {root}: image.png"
    sources = resolve_sources(root)
    assert [sources.name_of(p) for p in sources.files] == ["a/z.md", "b.txt"]
    assert corpus.fingerprint["files"] == 2 and corpus.fingerprint["bytes"] == 13


def test_a_glob_picks_matching_files(tmp_path, cache):
    write(tmp_path / "x" / "1.txt", "one\n")
    write(tmp_path / "x" / "deep" / "2.txt", "two\n")
    write(tmp_path / "x" / "3.csv", "three\n")
    corpus = prepare_corpus(str(tmp_path / "x" / "**" / "*.txt"), "byte", cache_dir=cache, val_fraction=0.0)
    assert bytes(corpus.tokens) == b"one\ntwo\n"


def test_bpe_tokenizer_is_trained_here_and_round_trips(tmp_path, cache):
    pytest.importorskip("tokenizers")
    src = write(tmp_path / "t.txt", TEXT + "naïve café ☕\n")
    corpus = prepare_corpus(src, "bpe", cache_dir=cache, bpe_vocab_size=300, val_fraction=0.0)
    tok = corpus.tokenizer
    assert isinstance(tok, BPETokenizer) and 256 < tok.vocab_size <= 300
    assert len(corpus.tokens) < len(src.read_bytes())  # merges shorten the text
    assert tok.decode(corpus.tokens.astype(np.int64).tolist()) == src.read_text()
    lengths = np.asarray(tok.token_bytes())
    assert int(lengths[corpus.tokens.astype(np.int64)].sum()) == len(src.read_bytes())  # bytes per token exact
    restored = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert restored.encode("speak, café").tolist() == tok.encode("speak, café").tolist()
    dec = restored.decoder()
    ids = restored.encode("☕").tolist()
    assert "".join(dec.decode([i]) for i in ids) + dec.decode([], final=True) == "☕"


def test_bpe_needs_a_sensible_vocabulary(tmp_path):
    pytest.importorskip("tokenizers")
    with pytest.raises(FastSNNError, match="bpe vocab_size must be at least 257"):
        BPETokenizer.train(["abc"], 100)


# -- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["byte", "char", "bpe"])
def test_an_empty_file_is_refused_by_every_tokenizer(tmp_path, cache, kind):
    with pytest.raises(FastSNNError, match=r"text file .*empty\.txt is empty; there is nothing to train on"):
        prepare_corpus(write(tmp_path / "empty.txt", b""), kind, cache_dir=cache)


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_binary_data_is_refused_by_text_tokenizers(tmp_path, cache, kind):
    src = write(tmp_path / "data.bin", b"abc\x00\x01\x02")
    with pytest.raises(FastSNNError, match=rf"data.bin: binary data \(a NUL byte at byte 3\); the {kind} tokenizer "
                                           "reads text only: use --tokenizer byte"):
        prepare_corpus(src, kind, cache_dir=cache)


def test_the_byte_tokenizer_reads_binary_and_non_utf8_data(tmp_path, cache):
    raw = bytes(range(256)) * 4
    corpus = prepare_corpus(write(tmp_path / "data.bin", raw), "byte", cache_dir=cache, val_fraction=0.0)
    assert bytes(corpus.tokens) == raw


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_non_utf8_text_is_refused_with_its_byte_offset(tmp_path, cache, kind):
    src = write(tmp_path / "latin1.txt", b"caf" + "é au lait".encode("latin-1"))
    with pytest.raises(FastSNNError, match=rf"latin1.txt: not valid UTF-8 at byte 3; the {kind} tokenizer reads "
                                           "UTF-8 text"):
        prepare_corpus(src, kind, cache_dir=cache)
    cut = write(tmp_path / "cut.txt", "café".encode()[:-1])
    with pytest.raises(FastSNNError, match=r"ends inside a multi-byte character \(byte 4\)"):
        prepare_corpus(cut, kind, cache_dir=cache)


def test_a_folder_without_text_files_is_refused(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FastSNNError, match=r"folder .*empty has no text files; point --data at a folder of text"):
        prepare_corpus(tmp_path / "empty", "byte", cache_dir=cache)
    write(tmp_path / "bin" / "a.bin", b"\x00\x01")
    with pytest.raises(FastSNNError, match=r"folder .*bin has no text files; skipped 1 binary file\(s\): a.bin"):
        prepare_corpus(tmp_path / "bin", "byte", cache_dir=cache)
    with pytest.raises(FastSNNError, match=r"the pattern '.*\*.txt' matches no text files"):
        prepare_corpus(str(tmp_path / "*.txt"), "byte", cache_dir=cache)
    with pytest.raises(FastSNNError, match=r"nothing.txt not found; --data takes a text file, a folder or a glob"):
        prepare_corpus(tmp_path / "nothing.txt", "byte", cache_dir=cache)
    with pytest.raises(FastSNNError, match="tokenizer must be one of byte, char, bpe, got 'word'"):
        prepare_corpus(tmp_path / "nothing.txt", "word", cache_dir=cache)


def test_a_token_file_from_another_tokenizer_is_refused(tmp_path, cache):
    src = write(tmp_path / "t.txt", TEXT)
    made = prepare_corpus(src, "char", cache_dir=cache)
    other = CharTokenizer("char", [*sorted(set(TEXT)), "#"])
    with pytest.raises(FastSNNError, match=r"was tokenised with another tokenizer \(char, 30 characters\) than this "
                                           r"run's \(char, 31 characters\); its ids would mean other characters"):
        prepare_corpus(made.token_file, other, cache_dir=cache)
    with pytest.raises(FastSNNError, match="was tokenised with the char tokenizer, not byte; pass --tokenizer char"):
        prepare_corpus(made.token_file, "byte", cache_dir=cache)
    direct = prepare_corpus(made.token_file, "char", cache_dir=cache)  # a .tokens file as --data
    assert direct.tokens.tolist() == made.tokens.tolist()


def test_a_truncated_token_file_is_refused_and_a_truncated_cache_rebuilt(tmp_path, cache):
    src = write(tmp_path / "t.txt", TEXT)
    made = prepare_corpus(src, "byte", cache_dir=cache)
    with open(made.token_file, "r+b") as fh:
        fh.truncate(100)
    with pytest.raises(FastSNNError, match=rf"holds 100 bytes but its description promises {len(TEXT):,} uint8 ids "
                                           rf"\({len(TEXT):,} bytes\): the file is truncated"):
        open_token_file(made.token_file)
    notes = []
    rebuilt = prepare_corpus(src, "byte", cache_dir=cache, notice=notes.append)
    assert "the cached token file is damaged" in notes[0] and len(rebuilt.tokens) == len(TEXT)
    os.remove(str(made.token_file) + ".json")
    with pytest.raises(FastSNNError, match=r"has no .*\.tokens\.json beside it"):
        open_token_file(made.token_file)


# -- windows -------------------------------------------------------------------------------------------
def test_windows_from_a_memory_map_equal_windows_from_a_tensor(tmp_path, cache):
    corpus = prepare_corpus(write(tmp_path / "t.txt", TEXT), "byte", cache_dir=cache)
    a = RandomWindows(corpus.train, 4, 17, seed=3)
    b = RandomWindows(torch.from_numpy(corpus.train.astype(np.int64)), 4, 17, seed=3)
    for _ in range(3):
        x, y = next(iter(a)), next(iter(b))
        assert x.dtype == torch.int64 and x.shape == (4, 17) and torch.equal(x, y)


def test_shards_of_the_processes_make_up_the_global_batch_and_resume_exactly(tmp_path, cache):
    tokens = prepare_corpus(write(tmp_path / "t.txt", TEXT), "byte", cache_dir=cache).train
    single = RandomWindows(tokens, 6, 9, seed=1)
    shards = [RandomWindows(tokens, 6, 9, seed=1, rank=r, world_size=3) for r in range(3)]
    for _ in range(4):
        whole = next(iter(single))
        assert torch.equal(torch.cat([next(iter(s)) for s in shards]), whole)
    state = shards[1].state_dict()
    expected = next(iter(shards[1]))
    fresh = RandomWindows(tokens, 6, 9, seed=99, rank=1, world_size=3)
    fresh.load_state_dict(state)
    assert torch.equal(next(iter(fresh)), expected)
    with pytest.raises(FastSNNError, match="the global batch_size 6 does not divide among world_size=4 processes"):
        RandomWindows(tokens, 6, 9, rank=0, world_size=4)
    with pytest.raises(FastSNNError, match="rank must be in 0..world_size-1, got rank=2, world_size=2"):
        RandomWindows(tokens, 6, 9, rank=2, world_size=2)


def test_sequential_windows_with_the_tail_score_every_token_once(tmp_path, cache):
    corpus = prepare_corpus(write(tmp_path / "t.txt", "abcdefghijklmnopqrstuvw"), "byte", cache_dir=cache,
                            val_fraction=0.0)
    windows = list(corpus.sequential_windows("all", batch_size=2, seq_len=5, tail=True))
    targets = [int(t) for w in windows for row in w for t in row[1:]]
    assert targets == list(bytes(corpus.tokens))[1:]  # each token but the first predicted exactly once
    assert [tuple(w.shape) for w in windows] == [(2, 5), (2, 5), (1, 5), (1, 3)]


# -- a corpus larger than the memory the process may use --------------------------------------------
LARGE_SCRIPT = textwrap.dedent("""
    import resource, sys, time
    import numpy as np, torch
    from torch import nn
    from fastsnn.data.corpus import prepare_corpus
    from fastsnn.train.trainer import TrainConfig, Trainer

    corpus_path, cache, headroom = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.head = nn.Embedding(256, 16), nn.Linear(16, 256)
        def forward(self, ids):
            return self.head(self.embed(ids))

    trainer = Trainer(LM(), TrainConfig(max_steps=3, batch_size=4, seq_len=65), callbacks=[])
    trainer.fit([torch.randint(0, 256, (4, 65))])  # warm up: threads and allocator before the limit
    trainer.step, trainer.history = 0, []
    data_kb = int(next(l for l in open("/proc/self/status") if l.startswith("VmData")).split()[1])
    limit = data_kb * 1024 + headroom
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    try:  # the limit is real: the corpus does not fit in what is left
        open(corpus_path, "rb").read()
        print("READ-WHOLE-FIT")
    except MemoryError:
        print("READ-WHOLE-REFUSED")
    corpus = prepare_corpus(corpus_path, "byte", cache_dir=cache)
    history = trainer.fit(corpus.random_windows("train", 4, 65, seed=0))
    val = trainer.evaluate(corpus.sequential_windows("val", 4, 65), max_batches=2)
    print("TOKENS", len(corpus.tokens), "STEPS", len(history), "VAL", val["tokens"])
""")


def test_a_corpus_larger_than_the_memory_limit_trains(tmp_path):
    size, headroom = 192 << 20, 48 << 20
    corpus = tmp_path / "big.txt"
    line = b"the quick brown fox jumps over the lazy dog; " * 20 + b"\n"
    with open(corpus, "wb") as fh:
        block = line * ((1 << 20) // len(line) + 1)
        written = 0
        while written < size:
            fh.write(block[: size - written])
            written += min(len(block), size - written)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", LARGE_SCRIPT, str(corpus), str(tmp_path / "cache"), str(headroom)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "READ-WHOLE-REFUSED" in done.stdout  # 192 MiB of text cannot be held with 48 MiB left
    assert f"TOKENS {size} STEPS 3 VAL 512" in done.stdout
