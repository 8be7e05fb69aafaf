"""Long context in core (toy components): no length limit unless a layer needs one (named when it
is exceeded, before any work), streamed prefill equal to one call, its memory checks, and
``fastsnn generate --prompt-file`` with each bad input."""

from __future__ import annotations

import types

import pytest
import torch
from click.testing import CliRunner
from pydantic import Field
from torch import nn

import fastsnn
from fastsnn import AttentionBase, FastSNNError, LayerCache, Params, hookimpl
from fastsnn.cli.main import cli
from fastsnn.config import ModelConfig, RunConfig
from fastsnn.config.checks import cross_field_problems
from fastsnn.data.text import CharTokenizer
from fastsnn.model import build_model
from fastsnn.model import memory as model_memory
from fastsnn.model.memory import (
    ACTIVATION_WIDTHS_D_FF,
    ACTIVATION_WIDTHS_D_MODEL,
    available_memory_bytes,
    check_prefill_memory,
    prefill_chunk_bytes,
)
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin

GIB = 2**30


class KeepAllCache(LayerCache):
    """Every token's input, like a KV cache: grows by ``d_model`` floats per token and sequence."""

    def __init__(self, batch_size, owner, d_model):
        super().__init__(batch_size, owner)
        self.rows = torch.zeros(batch_size, 0, d_model, dtype=torch.float64)
        self.reserved = 0

    def bytes_per_token(self):
        return self.batch_size * self.rows.shape[-1] * self.rows.element_size()

    def reserve(self, total_tokens):
        self.reserved = max(self.reserved, total_tokens)


class PositionTable(AttentionBase):
    """A learned position table added to a causal running mean: needs a sequence limit."""

    cache_class = KeepAllCache
    needs_max_seq_len = "its learned position table has max_seq_len rows"

    class Params(Params):
        scale: float = Field(1.0, gt=0)

    def __init__(self, d_model, n_heads, layer_idx=0, max_seq_len=None, **kwargs):
        super().__init__(d_model, n_heads, layer_idx, max_seq_len, **kwargs)
        self.table = nn.Parameter(torch.randn(self.max_seq_len, d_model) * 0.1)
        self.calls: list[int] = []

    def init_cache(self, batch_size, device=None, dtype=None):
        return KeepAllCache(batch_size, self, self.d_model)

    def mix(self, x, cache, start):
        self.calls.append(x.shape[1])
        rows = x if cache is None else torch.cat([cache.rows.to(x.dtype), x], 1)
        if cache is not None:
            cache.rows = rows.detach().double()
        means = rows.cumsum(1)[:, -x.shape[1]:] / torch.arange(start + 1, start + x.shape[1] + 1).view(1, -1, 1)
        return means + self.params.scale * self.table[start : start + x.shape[1]]


def table_plugin():
    @hookimpl
    def fastsnn_register_attention(register):
        register("table", PositionTable)

    mod = types.ModuleType("table_plugin")
    mod.PLUGIN_API_VERSION = "2.0"
    mod.fastsnn_register_attention = fastsnn_register_attention
    return mod


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin(), table_plugin()):
        yield


def model_with(attention="cummean", **overrides):
    values = dict(vocab_size=32, d_model=16, n_layers=2, n_heads=2, attention=attention,
                  neuron={"name": "half", "threshold": 0.01})
    return build_model(ModelConfig(**{**values, **overrides}), seed=0).double().eval()


def ids_of(length, batch=1, seed=1):
    return torch.randint(0, 32, (batch, length), generator=torch.Generator().manual_seed(seed))


# -- no limit where none is needed ------------------------------------------------------------------


def test_max_seq_len_is_unset_by_default_and_such_a_model_takes_any_length():
    assert ModelConfig.model_fields["max_seq_len"].default is None
    model = model_with()
    assert model.length_limit() is None and all(b.attn.max_seq_len is None for b in model.blocks)
    ids = ids_of(3000)  # longer than the old default limit of 2048
    cache = model.init_cache(1)
    last = model.prefill(ids, cache, chunk_size=1024)
    assert cache.seen == 3000
    torch.testing.assert_close(last, model(ids)[:, 2048:])


def test_a_run_config_without_max_seq_len_passes_the_cross_table_checks():
    run = RunConfig.model_validate({"model": {"vocab_size": 8, "attention": "cummean", "neuron": "half"}, "train": {"seq_len": 9000}})
    assert cross_field_problems(run) == []


def test_a_layer_that_needs_a_limit_refuses_none_naming_itself_and_its_layer():
    expected = ("PositionTable (layer 1) needs max_seq_len: its learned position table has max_seq_len rows; set "
                "max_seq_len in the model config to the longest sequence (prompt + generated tokens) it must hold, "
                "or use layers that need no limit (linear, gla, swa, the hybrid_alt layout)")
    with pytest.raises(FastSNNError) as err:
        model_with(["cummean", "table"])
    assert str(err.value) == expected


def test_a_layer_too_long_error_names_the_layer_and_why():
    table = fastsnn.create("attention", "table", d_model=4, n_heads=1, layer_idx=3, max_seq_len=5)
    with pytest.raises(FastSNNError) as err:
        table(torch.randn(1, 6, 4))
    assert str(err.value) == (
        "PositionTable (layer 3): sequence too long: 0 cached + 6 new tokens > max_seq_len=5 (its learned position "
        "table has max_seq_len rows); raise max_seq_len in the model config or start a new cache")
    mean = fastsnn.create("attention", "cummean", d_model=4, n_heads=1, layer_idx=2, max_seq_len=5)
    with pytest.raises(FastSNNError) as err:
        mean(torch.randn(1, 6, 4))
    assert str(err.value) == (
        "CumMean (layer 2): sequence too long: 0 cached + 6 new tokens > max_seq_len=5 (this layer needs no limit: "
        "leave max_seq_len unset to lift it); raise max_seq_len in the model config or start a new cache")


TABLE_WHY = "blocks.1.attn (PositionTable, layer 1) needs a limit: its learned position table has max_seq_len rows"
CONFIG_WHY = "set in the model config; no layer needs a limit: leave max_seq_len unset to lift it"


def test_the_model_names_the_layer_that_sets_its_limit():
    assert model_with(["cummean", "table"], max_seq_len=16).length_limit() == (16, TABLE_WHY)
    assert model_with(max_seq_len=16).length_limit() == (16, CONFIG_WHY)


def test_too_long_for_the_model_is_refused_before_any_layer_runs():
    model = model_with(["cummean", "table"], max_seq_len=16)
    table = model.blocks[1].attn
    with pytest.raises(FastSNNError) as err:
        model(ids_of(17))
    assert str(err.value) == (f"sequence of 17 tokens is longer than max_seq_len=16 ({TABLE_WHY}); "
                              "raise max_seq_len in the model config")
    cache = model.init_cache(1)
    model(ids_of(12), cache=cache)
    table.calls.clear()
    with pytest.raises(FastSNNError) as err:
        model(ids_of(5), cache=cache)
    assert str(err.value) == (f"sequence too long: cache holds 12 tokens and 5 more were given, but max_seq_len is "
                              f"16 ({TABLE_WHY}); raise max_seq_len in the model config, or start a new cache")
    with pytest.raises(FastSNNError) as err:  # prefill: the whole prompt is checked before the first chunk
        model.prefill(ids_of(9), cache, chunk_size=2)
    assert str(err.value).startswith("sequence too long: cache holds 12 tokens and 9 more were given")
    with pytest.raises(FastSNNError) as err:
        model.generate(ids_of(10), max_new_tokens=8)
    assert str(err.value) == (f"prompt of 10 tokens + 8 new tokens exceeds max_seq_len=16 ({TABLE_WHY}); "
                              "shorten the prompt or ask for fewer tokens")
    assert table.calls == [] and cache.seen == 12 and cache.layers[1].seen == 12


def test_an_explicit_limit_on_layers_that_need_none_says_it_can_be_lifted():
    with pytest.raises(FastSNNError) as err:
        model_with(max_seq_len=8)(ids_of(9))
    assert str(err.value) == f"sequence of 9 tokens is longer than max_seq_len=8 ({CONFIG_WHY}); raise max_seq_len in the model config"


# -- streamed prefill -----------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 40, 41, 1000])
def test_streamed_prefill_equals_one_call_and_decoding_continues_alike(chunk_size):
    model = model_with(["cummean", "table"], max_seq_len=64)
    ids, more = ids_of(41, batch=2), ids_of(6, batch=2, seed=2)
    one = model.init_cache(2)
    with torch.no_grad():
        full = model(ids, cache=one)
        streamed = model.init_cache(2)
        last = model.prefill(ids, streamed, chunk_size=chunk_size)
        tail = 41 - chunk_size * ((41 - 1) // chunk_size)
        torch.testing.assert_close(last, full[:, -tail:])
        assert streamed.seen == 41 and [c.seen for c in streamed.layers] == [41, 41]
        torch.testing.assert_close(streamed.layers[1].rows, one.layers[1].rows)
        torch.testing.assert_close(model(more, cache=streamed), model(more, cache=one))


def test_prefill_feeds_each_layer_at_most_one_chunk_keeps_no_graph_and_reports_progress():
    model = model_with(["cummean", "table"], max_seq_len=64).float().train()
    table = model.blocks[1].attn
    cache = model.init_cache(1)
    done: list[int] = []
    logits = model.prefill(ids_of(23), cache, chunk_size=5, progress=done.append)
    assert table.calls == [5, 5, 5, 5, 3] and done == [5, 10, 15, 20, 23]
    assert not logits.requires_grad and not cache.layers[1].rows.requires_grad
    assert cache.layers[1].reserved == 23  # room for the whole prompt asked for before the first chunk


def test_generate_reserves_the_prompt_and_new_tokens_and_decode_continues_a_prefill():
    model = model_with(["cummean", "table"], max_seq_len=64)
    prompt = ids_of(9)
    out = model.generate(prompt, max_new_tokens=4, temperature=0)
    cache = model.init_cache(1)
    logits = model.prefill(prompt, cache, chunk_size=4)
    new = model.decode(logits[:, -1], cache, 4, temperature=0)
    assert torch.equal(out, torch.cat([prompt, new], 1)) and new.shape == (1, 4) and cache.seen == 12
    assert model.decode(logits[:, -1], model.init_cache(1), 0).shape == (1, 0)


def test_model_cache_sums_growth_and_passes_reserve_to_every_layer():
    model = model_with(["table", "cummean", "table"], n_layers=3, max_seq_len=64)
    cache = model.init_cache(3)
    assert cache.bytes_per_token() == 2 * 3 * 16 * 8  # two keep-all layers, batch 3, 16 float64 per token
    cache.reserve(50)
    assert [getattr(c, "reserved", None) for c in cache.layers] == [50, None, 50]
    assert LayerCache(1).bytes_per_token() == 0 and LayerCache(1).reserve(10) is None


@pytest.mark.parametrize("chunk_size", [0, -4, True, 2.5, "8"])
def test_prefill_chunk_size_must_be_a_positive_int(chunk_size):
    model = model_with()
    with pytest.raises(FastSNNError) as err:
        model.prefill(ids_of(4), model.init_cache(1), chunk_size=chunk_size)
    assert str(err.value) == f"prefill chunk_size must be a positive number of tokens, got {chunk_size!r}"


def test_prefill_refuses_a_cache_of_another_model_or_batch():
    model = model_with()
    with pytest.raises(FastSNNError, match="this cache was made by another model"):
        model.prefill(ids_of(4), model_with().init_cache(1))
    with pytest.raises(FastSNNError, match="cache was made for batch size 2 but input has batch size 1"):
        model.prefill(ids_of(4), model.init_cache(2))


# -- memory checks ----------------------------------------------------------------------------------


def test_the_chunk_estimate_counts_one_layer_of_activations_and_the_logits():
    model = model_with()  # float64 weights, d_model 16, d_ff 64, vocab 32, no layer keeping every token
    per_token = 8 * (ACTIVATION_WIDTHS_D_MODEL * 16 + ACTIVATION_WIDTHS_D_FF * 64 + 32)
    assert prefill_chunk_bytes(model, 2, 10) == 2 * 10 * per_token
    table = model_with(["cummean", "table"], max_seq_len=64)  # + a float chunk × (seen + chunk) mask
    assert prefill_chunk_bytes(table, 1, 10, seen=30) == 10 * per_token + 4 * 10 * 40


def test_a_chunk_larger_than_memory_allows_is_refused_before_work(monkeypatch):
    model = model_with(["cummean", "table"], max_seq_len=5000)
    table = model.blocks[1].attn
    cache = model.init_cache(1)
    monkeypatch.setattr(model_memory, "available_memory_bytes", lambda device: 2 * 2**20)
    with pytest.raises(FastSNNError) as err:
        model.prefill(ids_of(4000), cache, chunk_size=4000)
    working = prefill_chunk_bytes(model, 1, 4000, 0) / GIB
    growth = 4000 * 16 * 8 / GIB
    assert str(err.value) == (
        f"prefill needs about {working:.2f} GiB of working memory for a chunk of 4000 tokens + {growth:.2f} GiB of "
        "cache growth (128 bytes per token for 4,000 tokens: the KV cache of layers that keep every token), but "
        f"only {2 / 1024:.2f} GiB are available on cpu; use a smaller chunk_size (at most about "
        f"{4000 * (2 * 2**20 - 4000 * 128) // prefill_chunk_bytes(model, 1, 4000, 0):,})")
    assert table.calls == [] and cache.seen == 0
    model.prefill(ids_of(4000), cache, chunk_size=8)  # small chunks fit


def test_cache_growth_beyond_memory_is_refused_whatever_the_chunk():
    model = model_with(["cummean", "table"], max_seq_len=5000)
    cache = model.init_cache(1)
    with pytest.raises(FastSNNError) as err:
        check_prefill_memory(model, cache, chunk=1, new_tokens=4000, available=4000 * 128 - 1)
    assert str(err.value).endswith(
        "the cache alone does not fit: prefill fewer tokens, or use layers with constant-size state "
        "(linear, gla, swa, hybrid_alt)")


def test_available_memory_is_known_on_this_machine():
    available = available_memory_bytes("cpu")
    assert isinstance(available, int) and available > 0
    assert available_memory_bytes("meta") is None


# -- fastsnn generate --prompt-file ------------------------------------------------------------------

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 3


@pytest.fixture
def folder(tmp_path):
    model = model_with(vocab_size=len(set(TEXT)), max_seq_len=None).float()
    return model.save_pretrained(tmp_path / "model", tokenizer=CharTokenizer.from_text(TEXT).to_dict())


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_prompt_file_is_streamed_and_continued_like_a_prompt(folder, tmp_path):
    prompt = (TEXT * 40)[:5000]  # longer than the old max_seq_len default
    (tmp_path / "p.txt").write_text(prompt)
    result = CliRunner().invoke(cli, ["generate", str(folder), "--prompt-file", str(tmp_path / "p.txt"),
                                      "--prefill-chunk", "700", "--max-new-tokens", "6", "--temperature", "0"])
    assert result.exit_code == 0, result.output
    report = [line for line in result.stderr.splitlines() if line.startswith("prefill: 5,000 tokens")]
    assert len(report) == 1 and "in chunks of 700" in report[0] and "constant (no layer keeps every token)" in report[0]
    model = fastsnn.from_pretrained(folder)
    ids = CharTokenizer.from_text(TEXT).encode(prompt).unsqueeze(0)
    expected = model.generate(ids, 6, temperature=0)[0, -6:]
    assert result.stdout == CharTokenizer.from_text(TEXT).decode(expected) + "\n"


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty; give a text file with at least one character"),
    (b"the \x00fox", "is not text: it has a NUL byte at offset 4 (a binary file?); give a UTF-8 text file"),
    (b"the fox\n\xff\xfe", "is not UTF-8 text: byte 0xff at offset 8 cannot be decoded; convert it to UTF-8"),
    (b"the fox\njumps QZ!\n",
     ": character 'Q' (U+0051) at line 2, column 7 is not in the model's tokenizer vocabulary of 29 "
     "characters (3 unknown in all: '!', 'Q', 'Z'); remove or replace them, or use a model trained with the byte tokenizer"),
])
def test_bad_prompt_files_exit_2_saying_what_and_where(folder, tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    result = invoke("generate", folder, "--prompt-file", path)
    assert result.exit_code == 2 and f"--prompt-file {path}{'' if message.startswith(':') else ' '}{message}" in result.output


def test_prompt_options_are_exactly_one_and_the_chunk_positive(folder, tmp_path):
    (tmp_path / "p.txt").write_text("the fox")
    for args in ([], ["--prompt", "the", "--prompt-file", tmp_path / "p.txt"]):
        result = invoke("generate", folder, *args)
        assert result.exit_code == 2 and "give the prompt as exactly one of --prompt TEXT or --prompt-file FILE" in result.output
    result = invoke("generate", folder, "--prompt-file", tmp_path / "missing.txt")
    assert result.exit_code == 2 and "does not exist" in result.output
    result = invoke("generate", folder, "--prompt-file", tmp_path)
    assert result.exit_code == 2 and "is a directory" in result.output
    result = invoke("generate", folder, "--prompt-file", tmp_path / "p.txt", "--prefill-chunk", "0")
    assert result.exit_code == 2 and "--prefill-chunk" in result.output and "0 is not in the range x>=1" in result.output


def test_a_prompt_file_beyond_the_budget_is_refused_before_work(tmp_path):
    model = model_with(["cummean", "table"], vocab_size=len(set(TEXT)), max_seq_len=50).float()
    folder = model.save_pretrained(tmp_path / "m", tokenizer=CharTokenizer.from_text(TEXT).to_dict())
    (tmp_path / "p.txt").write_text(TEXT)  # 135 characters
    result = invoke("generate", folder, "--prompt-file", tmp_path / "p.txt", "--max-new-tokens", "3")
    assert result.exit_code == 2 and (
        f"--prompt-file has 135 tokens + 3 new tokens, more than max_seq_len=50 ({TABLE_WHY}); shorten the "
        "prompt or ask for fewer tokens") in result.output
    assert "prefill:" not in result.output


# -- weights laid out for decoding -------------------------------------------------------------------


def test_layout_for_decoding_changes_memory_order_only(tmp_path):
    model = model_with(vocab_size=40)  # FFN up [64, 16] and head [40, 16] (tied) have out > in
    ids = ids_of(9)
    before = model(ids)
    names = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert model.layout_for_decoding() is model
    ffn = model.blocks[0].ffn
    up = [m for m in ffn.modules() if isinstance(m, nn.Linear) and m.weight.shape[0] > m.weight.shape[1]]
    down = [m for m in ffn.modules() if isinstance(m, nn.Linear) and m.weight.shape[0] < m.weight.shape[1]]
    assert up and down
    assert all(m.weight.stride() == (1, m.weight.shape[0]) for m in up)  # column-major
    assert all(m.weight.is_contiguous() for m in down)  # in > out: row-major already streams long rows
    assert model.head.weight is model.embed.weight and model.head.weight.stride() == (1, 40)
    assert {name: tuple(p.shape) for name, p in model.named_parameters()} == names
    torch.testing.assert_close(model(ids), before, rtol=0, atol=1e-12)
    model.loss(ids).backward()
    assert all(p.grad is not None for p in model.parameters())
    saved = model_with(vocab_size=40).float()
    expected = saved(ids)
    reloaded = fastsnn.from_pretrained(saved.layout_for_decoding().save_pretrained(tmp_path / "m"))
    torch.testing.assert_close(reloaded(ids), expected, rtol=0, atol=1e-5)  # the same values, re-read row-major
