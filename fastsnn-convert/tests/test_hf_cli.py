"""A Hugging Face model folder on disk → ``fastsnn convert-hf`` → a FastSNN model folder with the
source's tokenizer → ``fastsnn train --init`` → ``fastsnn generate``; the tokenizer conversion alone;
each bad input with its error, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")
pytest.importorskip("fastsnn_neurons")
pytest.importorskip("fastsnn_attention")

import fastsnn  # noqa: E402
from fastsnn.errors import FastSNNError  # noqa: E402
from fastsnn.testing import use_plugins  # noqa: E402
from fastsnn_attention import plugin as attention_plugin  # noqa: E402
from fastsnn_convert import plugin as convert_plugin  # noqa: E402
from fastsnn_convert.hf import tiny  # noqa: E402
from fastsnn_convert.hf.command import convert_hf_command  # noqa: E402
from fastsnn_convert.hf.tokenizer import convert_tokenizer  # noqa: E402
from fastsnn_neurons import plugin as neurons_plugin  # noqa: E402

SAMPLES = [tiny.TEXT, "Hello  world\n\tcafé ☃ 漢字 — tabs\tand\nnew lines", " a leading space", "", "<s> in text"]


@pytest.fixture(autouse=True)
def _plugins():
    with use_plugins(convert_plugin, attention_plugin, neurons_plugin) as manager:
        yield manager


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory):
    """Two Hugging Face model folders as ``save_pretrained`` writes them: Llama with a
    SentencePiece-style tokenizer (byte fallback), GPT-2 with a byte-level one."""
    root = tmp_path_factory.mktemp("hf")
    sp, bl = tiny.sentencepiece_tokenizer(), tiny.byte_level_tokenizer()
    llama = tiny.save_folder(tiny.llama(vocab_size=sp.get_vocab_size()), sp, root / "llama")
    gpt2 = tiny.save_folder(tiny.gpt2(vocab_size=bl.get_vocab_size()), bl, root / "gpt2")
    return {"llama": (llama, sp), "gpt2": (gpt2, bl)}


def run(*args):
    return CliRunner().invoke(convert_hf_command, [str(a) for a in args], catch_exceptions=True)


def error_text(result) -> str:
    return f"{result.output}{result.exception}"


# --- the tokenizer -------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_the_converted_tokenizer_encodes_and_decodes_as_hugging_face(hf_folders, family):
    folder, reference = hf_folders[family]
    transformers = pytest.importorskip("transformers")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    for source in (folder, folder / "tokenizer.json", reference, fast):
        tok = convert_tokenizer(source)
        assert tok.kind == "bpe" and tok.vocab_size == reference.get_vocab_size()
        for text in SAMPLES:
            ids = reference.encode(text).ids
            assert tok.encode(text).tolist() == ids == fast(text)["input_ids"]
            assert tok.decode(ids) == reference.decode(ids, skip_special_tokens=True)
            streamed = tok.decoder()  # a few ids at a time, as generation feeds it
            text_out = "".join(streamed.decode(ids[i:i + 1]) for i in range(len(ids))) + streamed.decode([], final=True)
            assert text_out == tok.decode(ids)
    # stored with a model (tokenizer.json of a FastSNN folder) and read back: the same ids
    again = fastsnn.data.tokenizer.tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.encode(tiny.TEXT).tolist() == reference.encode(tiny.TEXT).ids


def test_corpus_pieces_get_no_special_tokens(hf_folders):
    tok = convert_tokenizer(hf_folders["llama"][0])
    bos = hf_folders["llama"][1].token_to_id("<s>")
    assert tok.encode(tiny.TEXT)[0] == bos  # one text, as Hugging Face encodes it
    ids, _ = tok.encode_array(tiny.TEXT)  # a piece of a corpus: no <s> in the middle of the token file
    assert bos not in ids.tolist() and ids.tolist() == tok.encode(tiny.TEXT)[1:].tolist()


def test_sentencepiece_tokens_stand_for_their_bytes(hf_folders):
    tok = convert_tokenizer(hf_folders["llama"][0])
    vocab = hf_folders["llama"][1].get_vocab()
    assert tok.token_to_bytes[vocab["<0x0A>"]] == b"\n" and tok.token_to_bytes[vocab["<0xE6>"]] == b"\xe6"
    assert tok.token_to_bytes[vocab["<s>"]] == b"" and tok.token_to_bytes[vocab["\u2581"]] == b" "
    assert tok.strips_leading_space and not convert_tokenizer(hf_folders["gpt2"][0]).strips_leading_space
    assert sum(tok.token_bytes()) > 0


def test_tokenizer_bad_inputs(tmp_path, hf_folders):
    with pytest.raises(FastSNNError, match="not found"):
        convert_tokenizer(tmp_path / "nothing")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FastSNNError, match="bad.json is not a readable tokenizers JSON"):
        convert_tokenizer(tmp_path / "bad.json")
    wordpiece = tokenizers.Tokenizer(tokenizers.models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    with pytest.raises(FastSNNError, match="model is 'WordPiece'; FastSNN reads BPE tokenizers"):
        convert_tokenizer(wordpiece)
    with pytest.raises(FastSNNError, match="not a fast .tokenizers. tokenizer"):
        convert_tokenizer(object())
    (tmp_path / "weights_only").mkdir()
    (tmp_path / "weights_only" / "config.json").write_text("{}")
    with pytest.raises(FastSNNError, match="has no tokenizer.json and transformers could not load a tokenizer"):
        convert_tokenizer(tmp_path / "weights_only")
    spec = json.loads((hf_folders["gpt2"][0] / "tokenizer.json").read_text())
    spec["model"]["vocab"]["not bytes ☃"] = 5000
    (tmp_path / "broken.json").write_text(json.dumps(spec))
    with pytest.raises(FastSNNError, match="not in the byte-level alphabet"):
        convert_tokenizer(tmp_path / "broken.json")


# --- fastsnn convert-hf --------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_convert_hf_with_softmax_kept_reproduces_the_logits(tmp_path, hf_folders, family):
    folder, _ = hf_folders[family]
    result = run(folder, "--out", tmp_path / "out", "--layout", "softmax", "--no-spiking", "--report", "json")
    assert result.exit_code == 0, error_text(result)
    report = json.loads(result.output[result.output.index("{"):])
    assert report["agreement"]["top1_agreement"] == 1.0 and report["agreement"]["max_abs_logit_diff"] < 1e-4
    assert report["report"]["layers"] == ["softmax", "softmax"]
    model, tok = fastsnn.loading.load_with_tokenizer(tmp_path / "out")
    assert tok is not None and tok.vocab_size == hf_folders[family][1].get_vocab_size()
    from fastsnn_convert.hf.command import load_causal_lm

    hf = load_causal_lm(folder)
    ids = tok.encode(tiny.TEXT)[None, :40]
    with torch.no_grad():
        assert torch.allclose(model.eval()(ids), hf(ids).logits, atol=1e-4)
    meta = json.loads((tmp_path / "out" / "config.json").read_text())
    assert meta["converted_from"]["source"] == str(folder)


def test_convert_hf_hybrid_text_report(tmp_path, hf_folders):
    result = run(hf_folders["llama"][0], "--out", tmp_path / "out", "--softmax-layers", "1", "--window", "8")
    assert result.exit_code == 0, error_text(result)
    assert "layers linear, softmax" in result.output and "FFN spiking" in result.output
    assert "top-1 agreement" in result.output and "tokenizer: carried over (359 ids)" in result.output
    model = fastsnn.from_pretrained(tmp_path / "out")
    assert [r.name for r in model.layer_attention] == ["linear", "softmax"]


def test_convert_hf_bad_inputs_write_nothing(tmp_path, hf_folders):
    out = tmp_path / "out"
    cases = [
        ((tmp_path / "missing",), "is not a folder"),
        ((tmp_path,), "has no config.json"),
        ((hf_folders["llama"][0], "--layout", "{not json"), "--layout '{not json' is not valid JSON"),
        ((hf_folders["llama"][0], "--softmax-layers", "one"), "--softmax-layers takes layer indices"),
        ((hf_folders["llama"][0], "--window", "0"), "--window must be at least 1"),
        ((hf_folders["llama"][0], "--neuron", "no_such_neuron"), "no_such_neuron"),
        ((hf_folders["llama"][0], "--layout", "no_such_kernel"), "no_such_kernel"),
    ]
    for args, message in cases:
        result = run(*args, "--out", out)
        assert result.exit_code != 0, args
        assert message in error_text(result), (args, error_text(result))
    opt_folder = tiny.save_folder(tiny.opt(), None, tmp_path / "opt")
    result = run(opt_folder, "--out", out)
    assert result.exit_code != 0
    assert "opt" in error_text(result) and "llama" in error_text(result)  # names it and lists the supported ones
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "llama"}')
    result = run(tmp_path / "broken", "--out", out)
    assert result.exit_code != 0 and "transformers could not load a causal LM" in error_text(result)
    assert not out.exists()


def test_convert_hf_a_tokenizer_too_big_for_the_model(tmp_path):
    tok = tiny.byte_level_tokenizer()
    folder = tiny.save_folder(tiny.gpt2(), tok, tmp_path / "mismatch")  # 101 embedding rows, 300 ids
    result = run(folder, "--out", tmp_path / "out")
    assert result.exit_code != 0
    assert "tokenizer has 300 ids but the model's embedding only 101 rows" in error_text(result)
    assert not (tmp_path / "out").exists()


# --- the whole path, as a user runs it -----------------------------------------------------------

def test_convert_train_generate_as_subprocesses(tmp_path, hf_folders):
    env = {**os.environ, "FASTSNN_LOAD_PLUGINS": "attention,neurons,convert", "HF_HUB_OFFLINE": "1"}

    def fastsnn_cli(*args):
        return subprocess.run([sys.executable, "-m", "fastsnn", *map(str, args)], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=300)

    converted = fastsnn_cli("convert-hf", hf_folders["llama"][0], "--out", "converted")
    assert converted.returncode == 0, converted.stderr
    assert "wrote converted" in converted.stdout
    (tmp_path / "corpus.txt").write_text(tiny.TEXT * 40)
    (tmp_path / "continue.toml").write_text(
        "[train]\nmax_steps = 3\nbatch_size = 2\nseq_len = 16\nlog_every = 1\nlr = 1e-3\nwarmup_steps = 1\n")
    trained = fastsnn_cli("train", "continue.toml", "--init", "converted", "--data", "corpus.txt", "--out", "run",
                          "--no-progress")
    assert trained.returncode == 0, trained.stderr
    assert "weights from converted" in trained.stdout and "bpe tokenizer, vocab 359" in trained.stdout
    generated = fastsnn_cli("generate", "run", "--prompt", "First Citizen", "--max-new-tokens", "5")
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.startswith("First Citizen")


def test_convert_hf_takes_a_layout_table(tmp_path, hf_folders):
    layout = '{"name": "hybrid_alt", "first": "swa", "linear": "gla"}'  # the recipe's best (BENCHMARKS.md)
    result = run(hf_folders["llama"][0], "--out", tmp_path / "out", "--layout", layout, "--window", "4",
                 "--check-tokens", "0", "--neuron", '{"name": "adaptive_threshold", "k": 5, "signed": true}')
    assert result.exit_code == 0, error_text(result)
    assert "layers swa, gla" in result.output and "top-1 agreement" not in result.output
    model = fastsnn.from_pretrained(tmp_path / "out")
    assert [r.name for r in model.layer_attention] == ["swa", "gla"]
    assert model.config.neuron.params["k"] == 5


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_a_converted_tokenizer_survives_pickle_and_deepcopy(hf_folders, family):
    import copy
    import pickle

    tok = convert_tokenizer(hf_folders[family][0])
    tok.encode("warm the backend up")  # the tokenizers object it holds travels too
    for clone in (pickle.loads(pickle.dumps(tok)), copy.deepcopy(tok)):
        assert clone.encode(tiny.TEXT).tolist() == tok.encode(tiny.TEXT).tolist()
        assert clone.decode(tok.encode(tiny.TEXT)) == tok.decode(tok.encode(tiny.TEXT))
        assert clone.strips_leading_space == tok.strips_leading_space
