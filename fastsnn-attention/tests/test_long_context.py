"""Long context with the real kernels: hybrid layouts need no length limit, softmax needs a budget
(named when missing or exceeded, before any work), streamed prefill equals one call for every layout
and chunk size (logits, caches, and the decoding that follows), and caches report their growth.

Compared in float64: the spiking FFN rounds, and a 1e-7 difference on a rounding boundary would flip
a spike count (see the README's "The model API")."""

from __future__ import annotations

import pytest
import torch

from fastsnn import FastSNNError
from fastsnn.config import ModelConfig
from fastsnn.model import build_model
from fastsnn_attention.layers import KVCache, LinearAttentionCache, SlidingWindowCache

VOCAB = 61
LAYOUTS = {
    "hybrid_alt": {"name": "hybrid_alt", "swa": {"name": "swa", "window": 6}},
    "hybrid_alt_gla": {"name": "hybrid_alt", "linear": {"name": "gla", "chunk_size": 16},
                       "swa": {"name": "swa", "window": 5}, "first": "swa"},
    "hybrid_par": {"name": "hybrid_par", "swa": {"name": "swa", "window": 4}},
    "linear": "linear",
    "swa": {"name": "swa", "window": 7},
    "softmax": "softmax",
}
SOFTMAX_WHY = ("blocks.0.attn (SoftmaxAttention, layer 0) needs a limit: its KV cache keeps the keys and values of "
               "every token (max_seq_len is its budget)")


def assert_close(got, want):
    """float64 to 1e-9 (``fastsnn_attention.testing.assert_close`` compares in float32)."""
    torch.testing.assert_close(got, want)


def model_for(attention, max_seq_len=None, n_layers=2, **extra):
    config = ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=n_layers, n_heads=4, d_ff=64, attention=attention,
                         max_seq_len=max_seq_len, ffn="pulse", neuron="test_round", **extra)
    return build_model(config, seed=0).double().eval()


def ids_of(length, batch=1, seed=0):
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def state_tensors(cache):
    """Every tensor of every layer cache, in a fixed order (branches of hybrid_par included)."""
    out = []
    for layer in cache.layers:
        parts = [layer.linear, layer.swa] if hasattr(layer, "linear") else [layer]
        for part in parts:
            if isinstance(part, KVCache):
                out += [part.keys[:, :, : part.seen], part.values[:, :, : part.seen]]
            else:
                out += [t for t in vars(part).values() if isinstance(t, torch.Tensor)]
    return out


@pytest.mark.parametrize("layout", sorted(set(LAYOUTS) - {"softmax"}))
def test_layouts_with_constant_state_need_no_limit_and_decode_past_the_old_default(layout):
    model = model_for(LAYOUTS[layout])
    assert model.length_limit() is None
    ids = ids_of(2100)  # past the old max_seq_len default of 2048
    with torch.no_grad():
        cache = model.init_cache(1)
        model.prefill(ids[:, :2090], cache, chunk_size=512)
        steps = torch.cat([model(ids[:, t : t + 1], cache=cache) for t in range(2090, 2100)], 1)
        assert_close(steps, model(ids)[:, 2090:])


@pytest.mark.parametrize("attention", ["softmax", {"name": "hybrid_par", "linear": "softmax"}])
def test_softmax_without_a_budget_is_refused_naming_the_layer(attention):
    with pytest.raises(FastSNNError) as err:
        model_for(["linear", attention])
    assert str(err.value) == (
        "SoftmaxAttention (layer 1) needs max_seq_len: its KV cache keeps the keys and values of every token "
        "(max_seq_len is its budget); set max_seq_len in the model config to the longest sequence (prompt + "
        "generated tokens) it must hold, or use layers that need no limit (linear, gla, swa, the hybrid_alt layout)")


def test_softmax_layers_on_a_hybrid_layout_set_the_model_limit():
    model = model_for(LAYOUTS["hybrid_alt"], max_seq_len=32, n_layers=4, softmax_layers=[2])
    assert model.length_limit() == (32, SOFTMAX_WHY.replace("blocks.0", "blocks.2").replace("layer 0", "layer 2"))


def test_prefill_beyond_the_softmax_budget_is_refused_before_any_work():
    model = model_for("softmax", max_seq_len=20)
    cache = model.init_cache(1)
    model.prefill(ids_of(15), cache, chunk_size=4)
    keys_before = cache.layers[0].keys.clone()
    with pytest.raises(FastSNNError) as err:
        model.prefill(ids_of(6, seed=1), cache, chunk_size=4)
    assert str(err.value) == ("sequence too long: cache holds 15 tokens and 6 more were given, but max_seq_len is 20 "
                              f"({SOFTMAX_WHY}); raise max_seq_len in the model config, or start a new cache")
    assert cache.seen == 15 and all(layer.seen == 15 for layer in cache.layers)
    assert torch.equal(cache.layers[0].keys, keys_before)


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 9, 16, 100])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_streamed_prefill_equals_one_call_caches_and_decoding_included(layout, chunk_size):
    model = model_for(LAYOUTS[layout], max_seq_len=64 if layout == "softmax" else None)
    ids, more = ids_of(37, batch=2), ids_of(5, batch=2, seed=1)
    with torch.no_grad():
        one = model.init_cache(2)
        full = model(ids, cache=one)
        streamed = model.init_cache(2)
        last = model.prefill(ids, streamed, chunk_size=chunk_size)
        tail = 37 - chunk_size * ((37 - 1) // chunk_size)
        assert_close(last, full[:, -tail:])
        for got, want in zip(state_tensors(streamed), state_tensors(one), strict=True):
            assert_close(got, want)
        assert_close(model(more, cache=streamed), model(more, cache=one))
        decoded = [model(more[:, t : t + 1], cache=streamed) for t in range(5)]
        assert_close(torch.cat(decoded, 1), model(torch.cat([ids, more, more], 1))[:, 42:])


def test_constant_state_caches_do_not_grow_and_the_kv_cache_reports_its_growth():
    hybrid = model_for(LAYOUTS["hybrid_alt"])
    sizes = []
    for length in (50, 700):
        cache = hybrid.init_cache(1)
        hybrid.prefill(ids_of(length), cache, chunk_size=64)
        sizes.append(cache.nbytes())
        assert cache.bytes_per_token() == 0
    linear = 4 * 8 * (8 + 1)  # 4 heads × (kv D×D + z D), always fp32
    swa = 2 * 4 * 6 * 8  # keys and values: 4 heads × window 6 × D, in the model's float64
    assert sizes == [4 * linear + 8 * swa] * 2  # independent of the prompt length

    softmax = model_for("softmax", max_seq_len=1000)
    cache = softmax.init_cache(3)
    assert cache.bytes_per_token() == 2 * (2 * 3 * 32 * 8)  # 2 layers × keys+values × batch × d_model × float64
    softmax.prefill(ids_of(700, batch=3), cache, chunk_size=64)
    assert cache.nbytes() == 700 * cache.bytes_per_token()


def test_reserve_allocates_once_and_prefill_then_never_reallocates():
    model = model_for("softmax", max_seq_len=100)
    cache = model.init_cache(1)
    cache.reserve(500)  # capped at the budget
    kv = cache.layers[0]
    assert isinstance(kv, KVCache) and kv.keys.shape[2] == 100 and kv.capacity_nbytes() == 2 * 100 * 32 * 8
    pointer = kv.keys.data_ptr()
    model.prefill(ids_of(60), cache, chunk_size=7)
    model(ids_of(1), cache=cache)
    assert kv.keys.data_ptr() == pointer and kv.seen == 61


def test_reserve_keeps_the_tokens_already_seen():
    model = model_for("softmax", max_seq_len=100)
    cache = model.init_cache(1)
    model.prefill(ids_of(10), cache)
    before = cache.layers[0].keys[:, :, :10].clone()
    cache.reserve(80)
    assert cache.layers[0].keys.shape[2] == 80 and torch.equal(cache.layers[0].keys[:, :, :10], before)
    assert not isinstance(cache.layers[0], (LinearAttentionCache, SlidingWindowCache))


# -- fastsnn bench longctx -----------------------------------------------------------------------------


def tiny_bench(**overrides):
    from fastsnn_attention.benchmarks import LongContextBenchmark

    values = dict(seq_lens=[64, 256], d_model=32, n_layers=2, n_heads=2, vocab_size=VOCAB, window=8,
                  neuron="test_round", chunk_size=32, decode_steps=2, batch_sizes=[1, 3], batch_prefix=16,
                  time_limit_s=300)
    return LongContextBenchmark(**{**values, **overrides})


def test_longctx_benchmark_rows(monkeypatch):
    bench = tiny_bench()  # the bound is measured here; the measuring processes are replaced by fake_child
    monkeypatch.setattr("fastsnn_attention.benchmarks.longctx.run_child", fake_child)
    rows = bench.run(lambda message: None)
    sections = [r["section"] for r in rows]
    assert sections[0] == "bound" and rows[0]["weights_mib"] > 0 and rows[0]["read_gb_per_s"] > 0
    cells = [(r["layout"], r["T"], r["status"]) for r in rows if r["section"] == "longctx"]
    assert cells == [("hybrid_alt", 64, "measured"), ("hybrid_alt", 256, "measured"),
                     ("softmax", 64, "measured"), ("softmax", 256, "measured")]
    batched = [(r["layout"], r["batch"], r["tokens_per_s"]) for r in rows if r["section"] == "batched_decode"]
    assert batched == [("hybrid_alt", 1, 100.0), ("hybrid_alt", 3, 300.0), ("softmax", 1, 100.0), ("softmax", 3, 300.0)]
    compiled = [(r["layout"], r["batch"], r["compiled_ms_per_step"]) for r in rows if r["section"] == "compiled_decode"]
    assert compiled == [("hybrid_alt", 1, 4.0), ("hybrid_alt", 3, 4.0)]
    goals = {r["goal"]: r for r in rows if r["section"] == "goal"}  # only the compiled one: no issue length measured
    assert list(goals) == ["hybrid_alt compiled decode at 16 / weight-read bound (same process, medians)"]
    assert goals[next(iter(goals))]["value"] == 2.5 and goals[next(iter(goals))]["met"] is False
    assert not any(r["section"] == "compiled_decode" for r in tiny_bench(compiled_decode=False).run(lambda m: None))


def fake_child(request, timeout):
    """What a measuring process reports, without starting one (the real one is tested below)."""
    if request.get("compiled"):
        return {"status": "measured", "compile_s": 1.0, "eager_ms_per_step": 9.0, "compiled_ms_per_step": 4.0,
                "eager_ms_median": 10.0, "compiled_ms_median": 5.0, "bound_ms_per_token": 1.5, "bound_ms_median": 2.0,
                "compiled_threads": 1}
    t = request["seq_len"]
    return {"status": "measured", "prefill_s": t / 1000, "prefill_tokens_per_s": 1000.0, "peak_rss_mib": 100.0,
            "decode_ms_per_token": 10.0, "cache_mib": 1.0}


def test_a_run_predicted_past_the_time_limit_is_skipped_with_its_extrapolation():
    from fastsnn_attention.benchmarks.longctx import extrapolate

    measured = [{"status": "measured", "T": t, "prefill_s": 2e-3 * t + 1e-7 * t * t, "decode_ms_per_token": 5 + 1e-4 * t,
                 "peak_rss_mib": 300 + 0.03 * t} for t in (1024, 16384, 65536)]
    fit = extrapolate(measured, 262144)
    assert fit["predicted_prefill_s"] == pytest.approx(2e-3 * 262144 + 1e-7 * 262144**2, abs=0.1)
    assert fit["predicted_decode_ms_per_token"] == pytest.approx(5 + 1e-4 * 262144, abs=0.01)
    assert fit["predicted_peak_rss_mib"] == pytest.approx(300 + 0.03 * 262144, abs=1)
    assert fit["basis"].startswith("least squares on the measured T = 1,024, 16,384, 65,536")
    assert extrapolate(measured[:1], 262144) is None
    row = tiny_bench(time_limit_s=100)._prefill_and_decode("softmax", 262144, measured, lambda message: None)
    assert row["status"] == "skipped" and row["reason"] == f"predicted prefill {fit['predicted_prefill_s']:.0f} s > time limit 100 s"


def test_the_measuring_process_reports_a_refusal_before_work():
    from fastsnn_attention.benchmarks.longctx import run_child

    # the measuring process loads the installed plugins (not this test's toy neuron): it needs a real one
    pytest.importorskip("fastsnn_neurons", reason="the child process builds adaptive_threshold from fastsnn-neurons")
    config = tiny_bench().model_config("softmax", 10)
    config["neuron"] = {"name": "adaptive_threshold"}  # a fresh process loads the installed plugins
    request = {"config": config, "seq_len": 20, "batch": 1, "chunk_size": 8, "decode_steps": 1, "threads": 1,
               "seed": 0, "layout_for_decoding": True}
    result = run_child(request, timeout=120)
    assert result["status"] == "refused" and result["reason"].startswith(
        "sequence of 20 tokens is longer than max_seq_len=10 (blocks.0.attn (SoftmaxAttention, layer 0) needs a limit")


def test_the_measuring_process_times_eager_compiled_and_the_bound_side_by_side():
    from fastsnn.model.compiled_decode import compiler_problem
    from fastsnn_attention.benchmarks.longctx import run_child

    pytest.importorskip("fastsnn_neurons", reason="the child process builds adaptive_threshold from fastsnn-neurons")
    if compiler_problem():
        pytest.skip(compiler_problem())
    config = tiny_bench().model_config("hybrid_alt", None)
    config["neuron"] = {"name": "adaptive_threshold"}
    request = {"config": config, "seq_len": 12, "batch": 1, "chunk_size": 8, "decode_steps": 2, "threads": 1,
               "seed": 0, "compiled": True}
    result = run_child(request, timeout=300)
    assert result["status"] == "measured", result
    assert result["compiled_ms_per_step"] > 0 and result["eager_ms_per_step"] > 0 and result["read_gb_per_s"] > 0
    assert result["max_abs_logit_difference"] < 1e-3  # the two caches decode the same positions
