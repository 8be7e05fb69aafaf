"""Registration through the public hooks, the layout factory, and quick runs of the benchmarks."""

from __future__ import annotations

import inspect
import json

import pytest

import fastsnn
from fastsnn_attention.benchmarks.measure import peak_memory_bytes
from fastsnn_attention.layouts import HybridAltParams, hybrid_alt

FEATURE_MAPS = {("feature_map", name) for name in ("relu", "elu1", "softplus", "relu2", "identity")}
CONTEXT = {"attention": {"d_model": 16, "n_heads": 2, "max_seq_len": 64}, "layout": {"n_layers": 3}, "feature_map": {}, "benchmark": {}}


def test_components_are_registered_under_their_kinds():
    ours = {(c["kind"], c["name"]) for c in fastsnn.components() if c["plugin"] == "fastsnn_attention.plugin"}
    assert ours == {
        ("attention", "softmax"), ("attention", "linear"), ("attention", "gla"), ("attention", "swa"),
        ("attention", "hybrid_par"), ("layout", "hybrid_alt"), ("benchmark", "attention"), ("benchmark", "model"),
        ("benchmark", "longctx"),
    } | FEATURE_MAPS
    # the "pip install ..." hints point at this distribution for every kernel, layout and feature map it provides
    registry = fastsnn.get_registry()
    for kind, name in ours - {("benchmark", "attention"), ("benchmark", "model"), ("benchmark", "longctx")}:
        assert registry.kind(kind).providers[name] == "fastsnn-attention"


def test_plugin_declares_the_current_plugin_api():
    import fastsnn_attention.plugin

    assert fastsnn_attention.plugin.PLUGIN_API_VERSION == "2.0"


@pytest.mark.parametrize("kind", ["attention", "layout", "feature_map", "benchmark"])
def test_each_parameter_is_declared_once_and_python_gets_what_the_registry_builds(kind):
    for spec in fastsnn.get_registry().specs(kind):
        if spec.plugin != "fastsnn_attention.plugin":
            continue
        signature = inspect.signature(spec.factory)
        assert not set(spec.params.model_fields) & set(signature.parameters), spec.name
        built = spec.build(**CONTEXT[kind])
        if inspect.isclass(spec.factory):
            assert built.params == spec.factory(**CONTEXT[kind]).params == spec.params()
        else:  # the layout factory function
            assert built == spec.factory(**CONTEXT[kind])


@pytest.mark.parametrize("kind", ["attention", "layout", "feature_map", "benchmark"])
def test_every_component_has_a_description_and_a_json_schema(kind):
    for component in fastsnn.components(kind):
        if component["plugin"] != "fastsnn_attention.plugin":
            continue
        assert component["description"]
        json.dumps(component["params"])  # what `fastsnn info --json` prints


def test_hybrid_alt_layout_alternates_the_given_kernels():
    layout = fastsnn.create("layout", "hybrid_alt", n_layers=5, swa={"name": "swa", "window": 9}, linear="gla")
    assert [ref if isinstance(ref, str) else ref.name for ref in layout] == ["gla", "swa", "gla", "swa", "gla"]
    assert layout[1].params == {"window": 9}
    swa_first = fastsnn.create("layout", "hybrid_alt", n_layers=2, first="swa")
    assert [ref.name for ref in swa_first] == ["swa", "linear"]
    # called as the registry calls it, and from Python with the defaults
    assert hybrid_alt(n_layers=3, params=HybridAltParams(first="swa")) == swa_first + swa_first[:1]
    assert [ref.name for ref in hybrid_alt(n_layers=3)] == ["linear", "swa", "linear"]


def test_layout_rejects_unknown_kernels_with_a_suggestion():
    with pytest.raises(fastsnn.FastSNNError, match="unknown attention 'lineer' \\(did you mean 'linear'\\?\\)"):
        fastsnn.create("layout", "hybrid_alt", n_layers=2, linear="lineer")


def test_attention_benchmark_quick_run_reports_every_section():
    bench = fastsnn.create("benchmark", "attention", sections=["linear", "swa"], linear_seq_lens=[64, 128],
                           recurrent_max_seq_len=64, swa_seq_lens=[64, 128], window=16, heads=2, head_dim=16,
                           repeats=1)
    messages = []
    rows = bench(messages.append)
    sections = [row["section"] for row in rows]
    assert sections.count("matmul_peak") == 1 and sections.count("swa_time") == 2
    linear = [r for r in rows if r["section"] == "linear_fwd_bwd"]
    assert [(r["T"], r["impl"]) for r in linear] == [
        (64, "chunked C=64"), (64, "chunked C=128"), (64, "recurrent (token loop)"),
        (128, "chunked C=64"), (128, "chunked C=128")]  # the recurrent form is skipped above 64
    assert linear[0]["speedup_vs_recurrent"] > 0 and linear[0]["gflops"] >= 0 and linear[0]["pct_of_matmul_peak"] >= 0
    assert "speedup_vs_recurrent" not in linear[3]
    assert rows[-1]["fwd_growth"] > 0 and messages


def test_model_benchmark_quick_run_compares_layouts():
    bench = fastsnn.create("benchmark", "model", layouts=["hybrid_alt", "softmax"], seq_lens=[16, 32], d_model=32,
                           n_layers=2, n_heads=2, vocab_size=50, window=8, neuron="test_round", decode_steps=2,
                           rounds=1)
    rows = bench(lambda message: None)
    assert [(r["layout"], r["T"]) for r in rows] == [("hybrid_alt", 16), ("hybrid_alt", 32), ("softmax", 16),
                                                      ("softmax", 32)]
    hybrid = rows[0]
    assert hybrid["prefill_speedup_vs_softmax"] > 0 and hybrid["decode_vs_T1024"] == 1.0
    assert hybrid["decode_prefix"] == 17  # 16 prompt tokens + one warm-up decode step
    assert rows[3]["cache_mib_per_seq"] > rows[2]["cache_mib_per_seq"]  # softmax's KV cache grows with T


def test_peak_memory_measures_the_dense_mask_blowup_in_a_fresh_process():
    case = "fastsnn_attention.benchmarks.cases:swa_call"
    dense = peak_memory_bytes(case, impl="dense_mask", seq_len=1024, window=64)
    blockwise = peak_memory_bytes(case, impl="blockwise", seq_len=1024, window=64)
    assert dense > 8 * 1024 * 1024 * 4  # at least one fp32 score matrix of 8 heads × 1024²
    assert blockwise < dense / 4


def test_peak_memory_reports_a_failing_case():
    with pytest.raises(RuntimeError, match="memory measurement .* failed"):
        peak_memory_bytes("fastsnn_attention.benchmarks.cases:swa_call", impl="no_such_impl", seq_len=8)
