"""Token ids → text: multi-byte UTF-8 characters of the byte tokenizer decode whole, at once or streamed.

``fastsnn generate --prompt café`` on a byte-level model used to print ``caf��``: each byte id was
decoded on its own. Every decoding path (``CharTokenizer.decode``, the incremental
``TokenDecoder``, the CLI's ``train`` sample and ``generate``) is checked here.
"""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from fastsnn import FastSNNError
from fastsnn.cli.main import cli
from fastsnn.cli.pipeline import decode_lenient
from fastsnn.data import CharTokenizer, TokenDecoder
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin

TEXTS = ["café", "naïve — ☕ 🐍!", "日本語のテキスト", "e\u0301 combining", "\U0010ffff end"]


@pytest.mark.parametrize("text", TEXTS)
def test_byte_tokenizer_decodes_multi_byte_characters_whole(text):
    tok = CharTokenizer.bytes()
    ids = tok.encode(text)
    assert len(ids) == len(text.encode("utf-8")) > len(text)  # every text has a multi-byte character
    assert tok.decode(ids) == text and tok.decode(ids.tolist()) == text


@pytest.mark.parametrize("text", TEXTS)
def test_streamed_one_id_at_a_time_each_piece_is_whole_characters(text):
    tok = CharTokenizer.bytes()
    decoder = tok.decoder()
    pieces = [decoder.decode(int(i)) for i in tok.encode(text)]
    assert "".join(pieces) + decoder.decode([], final=True) == text
    assert "\ufffd" not in "".join(pieces)
    # a piece is empty until the last byte of its character arrives, then it is that character
    expected = []
    for ch in text:
        expected += [""] * (len(ch.encode("utf-8")) - 1) + [ch]
    assert pieces == expected


def test_streamed_in_chunks_that_split_characters():
    text = "café ☕ 🐍"
    ids = CharTokenizer.bytes().encode(text)
    for size in (1, 2, 3, 5):
        decoder = CharTokenizer.bytes().decoder()
        out = "".join(decoder.decode(ids[i : i + size]) for i in range(0, len(ids), size))
        assert out + decoder.decode([], final=True) == text


def test_an_unfinished_character_is_held_back_then_flushed_as_one_replacement_char():
    decoder = CharTokenizer.bytes().decoder()
    assert decoder.decode([99, 97, 102, 0xC3]) == "caf"
    assert decoder.decode([], final=True) == "\ufffd"
    assert CharTokenizer.bytes().decode([0xE2, 0x98]) == "\ufffd"  # '☕' cut after two of its three bytes
    assert CharTokenizer.bytes().decode([0xFF, 0x41]) == "\ufffdA"  # never valid UTF-8


def test_unknown_ids_replace_or_raise():
    tok = CharTokenizer.bytes()
    # 0xC3 waits for its second byte; the unknown 300 ends it (one U+FFFD), then is one U+FFFD itself
    assert tok.decode([99, 0xC3, 300, 0xC3, 0xA9], unknown="replace") == "c\ufffd\ufffdé"
    assert tok.decode([-1, 104, 105], unknown="replace") == "\ufffdhi"
    with pytest.raises(FastSNNError, match=r"token id 256 is outside the tokenizer's vocabulary \(0\.\.255\)"):
        tok.decode([104, 256])
    decoder = tok.decoder()
    assert decoder.decode([0xC3]) == ""
    with pytest.raises(FastSNNError, match="token id 999"):
        decoder.decode([0xA9, 999])
    assert decoder.decode([0xA9]) == "é"  # a refused call consumed nothing
    char = CharTokenizer.from_text("ab")
    assert char.decode([0, 2, 1], unknown="replace") == "a\ufffdb"
    assert decode_lenient(char, torch.tensor([1, 0, 7])) == "ba\ufffd"


def test_char_tokenizer_streams_too():
    tok = CharTokenizer.from_text("héllo wörld")
    decoder = tok.decoder()
    assert "".join(decoder.decode(int(i)) for i in tok.encode("wörld hé")) == "wörld hé"
    assert isinstance(decoder, TokenDecoder) and decoder.decode([], final=True) == ""


def test_decode_input_errors():
    tok = CharTokenizer.bytes()
    with pytest.raises(FastSNNError, match=r"decode takes a 1-D tensor of integer token ids, got torch.float32 \(3,\)"):
        tok.decode(torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(FastSNNError, match=r"got torch.int64 \(1, 2\)"):
        tok.decode(torch.tensor([[1, 2]]))
    with pytest.raises(FastSNNError, match="token ids must be integers, got 'a'"):
        tok.decode(["a"])
    with pytest.raises(FastSNNError, match="token ids must be integers, got True"):
        tok.decode([True])
    with pytest.raises(FastSNNError, match="unknown must be 'error' or 'replace', got 'skip'"):
        tok.decoder("skip")
    assert tok.decode(torch.tensor(104)) == "h"  # one id as a 0-d tensor
    assert tok.decode(torch.tensor([104, 105], dtype=torch.uint8)) == "hi"


CONFIG = """
[model]
vocab_size = {vocab}
d_model = 16
n_layers = 2
n_heads = 2
max_seq_len = 64
attention = "cummean"
neuron = "half"

[train]
max_steps = 2
batch_size = 4
seq_len = 16
lr = 0.01
"""


@pytest.fixture
def toy():
    with use_plugins(make_plugin()):
        yield


def _train(tmp_path, text, tokenizer, vocab):
    (tmp_path / "text.txt").write_text(text, encoding="utf-8")
    (tmp_path / "run.toml").write_text(CONFIG.format(vocab=vocab))
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "run.toml"), "--data", str(tmp_path / "text.txt"),
                                      "--out", str(tmp_path / "run"), "--tokenizer", tokenizer])
    assert result.exit_code == 0, result.output
    return result.output


def test_generate_prints_a_byte_level_prompt_whole(tmp_path, toy):
    _train(tmp_path, "un café, deux cafés. " * 40, "byte", 256)
    runner = CliRunner()
    result = runner.invoke(cli, ["generate", str(tmp_path / "run"), "--prompt", "café", "--max-new-tokens", "0"])
    assert result.exit_code == 0, result.output
    assert result.output == "café\n"
    result = runner.invoke(cli, ["generate", str(tmp_path / "run"), "--prompt", "naïve ☕", "--max-new-tokens", "8",
                                 "--temperature", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("naïve ☕")


def test_train_sample_shows_characters_not_escapes(tmp_path, toy):
    output = _train(tmp_path, "naïve café. " * 60, "char", 16)
    sample_line = next(line for line in output.splitlines() if line.startswith("sample: "))
    sample = json.loads(sample_line.removeprefix("sample: "))
    assert "\\u" not in sample_line and "é" in sample_line and sample.startswith("naïve café. naïv")  # the prompt: the first 16 validation characters
