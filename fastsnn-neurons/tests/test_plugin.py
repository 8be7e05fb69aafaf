"""The plugin registers every component through the public hooks; the benchmark runs."""

import pytest

import fastsnn
import fastsnn_neurons.plugin
from fastsnn.plugins import get_plugin_manager


def test_plugin_declares_api_version_and_registers_everything():
    assert fastsnn_neurons.plugin.PLUGIN_API_VERSION.split(".")[0] == fastsnn.PLUGIN_API_VERSION.split(".")[0]
    info = get_plugin_manager().plugins["fastsnn_neurons.plugin"]
    assert info.status == "ok", info.error
    assert set(info.components) == {
        *(f"neuron:{n}" for n in ["adaptive_threshold", "fixed_threshold", "lif_sint", "if", "lif"]),
        *(f"surrogate:{n}" for n in ["ste", "atan", "sigmoid", "rectangular", "triangle"]),
        *(f"coding:{n}" for n in ["binary", "ternary", "bitwise", "bitwise_bidirectional", "twos_complement"]),
        "benchmark:neurons",
    }


@pytest.mark.parametrize("kind", ["neuron", "surrogate", "coding", "benchmark"])
def test_every_component_has_a_description_and_documented_params(kind):
    for component in fastsnn.components(kind):
        assert component["description"], component["name"]
        for field, schema in component["params"].get("properties", {}).items():
            if field != "seed":
                assert schema.get("description"), f"{kind} {component['name']}.{field} has no description"


def test_entry_point_is_declared():
    from importlib.metadata import entry_points

    points = [ep for ep in entry_points(group="fastsnn") if ep.value == "fastsnn_neurons.plugin"]
    assert [ep.name for ep in points] == ["neurons"]


def test_neuron_benchmark_runs_and_reports_goals():
    bench = fastsnn.create("benchmark", "neurons", batch=4, features=64, steps=3, repeats=2, warmup=0,
                           coding_values=5000, external=False)
    messages = []
    rows = bench(messages.append)
    cases = {row["case"]: row for row in rows}
    assert cases["relu"]["vs_relu"] == 1.0
    assert cases["adaptive_threshold"]["fwd_bwd_ms"] > 0 and cases["adaptive_threshold"]["saved_MiB"] > 0
    assert cases["lif[T]"]["shape"] == "3x4x64"
    assert cases["bitwise"]["steps"] >= 1 and cases["bitwise"]["decode_ms"] > 0
    goals = [row for row in rows if row["section"] == "goal"]
    assert len(goals) == 4
    assert [g["holds"] is None for g in goals] == [False, True, False, False]  # SpikingJelly not asked for
    assert all(isinstance(g["holds"], bool) for g in goals if "spikingjelly" not in g["case"])
    assert any("timing relu, adaptive_threshold" in m for m in messages)
    with pytest.raises(fastsnn.FastSNNError, match="batch"):
        fastsnn.create("benchmark", "neurons", batch=0)
    with pytest.raises(fastsnn.FastSNNError, match="bad device 'gpu0'"):
        fastsnn.create("benchmark", "neurons", device="gpu0")
