"""NIR interchange with the real neurons and conversion rules: FastSNN → NIR → FastSNN round trips
(multi-step IF/LIF, converted MLP/CNN with fixed-threshold staircases and one-step IF), graphs
built the way snnTorch / Norse / Sinabs write them, and every unsupported model or graph named."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import fastsnn
from fastsnn.convert import convert
from fastsnn.testing import use_plugins

nir = pytest.importorskip("nir")

from fastsnn.export.dispatch import export_model  # noqa: E402
from fastsnn.export.nir_graph import from_nir, read_nir, to_nir, write_nir  # noqa: E402


@pytest.fixture(autouse=True)
def _plugins(monkeypatch):
    monkeypatch.setenv("FASTSNN_LOAD_PLUGINS", "fastsnn-neurons,fastsnn-convert,fastsnn-attention")
    with use_plugins(entry_points=True), torch.no_grad():
        yield


def neuron(name, **params):
    return fastsnn.create("neuron", name, **params)


def round_trip(model, example, tmp_path, **kwargs):
    """Export, write, read back and import ``model``; returns the imported network."""
    path = write_nir(to_nir(model.eval(), example, **kwargs), tmp_path / "model.nir")
    return from_nir(read_nir(path))


def test_multistep_if_and_lif_round_trip_exactly(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), neuron("if", threshold=0.5, reset="hard", time_dim=0),
                          nn.Linear(8, 5), neuron("lif", threshold=0.3, decay=0.75, reset="hard",
                                                  reset_potential=-0.1, time_dim=0),
                          nn.Linear(5, 3, bias=False))
    x = torch.randn(12, 4, 6)  # (T, B, features)
    imported = round_trip(model, x, tmp_path)
    expected = model(x)
    assert expected.abs().sum() > 0
    assert float((imported(x) - expected).abs().max()) == 0.0
    graph = to_nir(model, x)
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    assert kinds == {"input": "Input", "0": "Affine", "1": "IF", "2": "Affine", "3": "LIF", "4": "Linear",
                     "output": "Output"}
    lif = graph.nodes["3"]
    assert np.allclose(lif.tau, 4.0) and np.allclose(lif.r, 4.0) and np.allclose(lif.v_reset, -0.1)


def relu_mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))


def test_a_fixed_threshold_conversion_becomes_an_exact_staircase(tmp_path):
    snn, _ = convert(relu_mlp(), neuron={"name": "fixed_threshold", "threshold": 0.05, "signed": False,
                                         "max_count": 7})
    x = torch.randn(32, 10)
    imported = round_trip(snn, x, tmp_path)
    expected = snn(x)
    assert float((imported(x[None])[0] - expected).abs().max()) == 0.0
    graph = to_nir(snn.eval(), x)
    steps = sorted(n for n in graph.nodes if n.startswith("1_step"))
    assert len(steps) == 7 and np.allclose(graph.nodes["1_step3"].threshold, 2.5 * 0.05)
    assert sum(dst == "1_scale" for _, dst in graph.edges) == 7  # the staircase sums into one Scale node


def test_a_converted_cnn_with_one_step_if_neurons_round_trips(tmp_path):
    torch.manual_seed(2)
    ann = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 4 * 4, 5))
    snn, _ = convert(ann, neuron={"name": "if", "threshold": 0.2, "reset": "hard"}, d_model=4)
    x = torch.randn(3, 2, 8, 8)
    imported = round_trip(snn, x, tmp_path)
    assert float((imported(x[None])[0] - snn(x)).abs().max()) == 0.0
    kinds = [type(n).__name__ for n in to_nir(snn, x).nodes.values()]
    assert kinds == ["Input", "Conv2d", "IF", "AvgPool2d", "Flatten", "Affine", "Output"]


def test_soft_reset_is_refused_or_carried_as_the_documented_extension(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), neuron("if", threshold=0.5, time_dim=0))  # reset='soft' (default)
    x = torch.randn(6, 2, 4)
    with pytest.raises(fastsnn.FastSNNError, match=r"1 \(IFNeuron\): reset='soft' subtracts the threshold.*"
                                                     r"soft_reset='metadata'"):
        to_nir(model, x)
    imported = round_trip(model, x, tmp_path, soft_reset="metadata")
    assert float((imported(x) - model(x)).abs().max()) == 0.0
    assert to_nir(model, x, soft_reset="metadata").nodes["1"].metadata == {"fastsnn_reset": "soft"}


def test_what_nir_cannot_express_is_named_module_by_module():
    model = nn.Sequential(nn.Linear(4, 4), nn.GELU(), neuron("adaptive_threshold"), nn.LayerNorm(4),
                          neuron("fixed_threshold", signed=True, max_count=3), neuron("fixed_threshold", signed=False))
    with pytest.raises(fastsnn.FastSNNError) as err:
        to_nir(model, torch.randn(2, 4))
    message = str(err.value)
    assert "1 (GELU): no NIR node for GELU" in message
    assert "2 (AdaptiveThresholdNeuron): its threshold adapts per token" in message
    assert "3 (LayerNorm): NIR has no normalisation node" in message
    assert "4 (FixedThresholdNeuron): signed counts" in message
    assert "5 (FixedThresholdNeuron): unbounded counts" in message


def test_a_functional_activation_is_named():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return torch.tanh(self.fc(x))

    with pytest.raises(fastsnn.FastSNNError, match="call_function 'tanh' .* has no NIR node"):
        to_nir(Net(), torch.randn(1, 3))


def test_exporting_a_language_model_names_what_nir_cannot_carry_and_which_formats_can(tmp_path):
    from fastsnn.model import build_model

    model = build_model({"vocab_size": 16, "d_model": 16, "n_layers": 2, "n_heads": 2, "max_seq_len": 32,
                         "attention": "hybrid_alt"}, seed=0)
    folder = model.save_pretrained(tmp_path / "lm")
    from fastsnn.cli.main import cli

    result = CliRunner().invoke(cli, ["export", str(folder), "--format", "nir", "--out", str(tmp_path / "m.nir")])
    assert result.exit_code == 2, result.output
    assert "format 'nir' cannot carry this model" in result.output
    assert "blocks.0.attn (LinearAttention): attention mixes tokens" in result.output
    assert "blocks.1.attn (SlidingWindowAttention)" in result.output
    assert "embed (Embedding): NIR has no embedding lookup" in result.output
    assert "blocks.0.ffn.neuron (AdaptiveThresholdNeuron): its threshold adapts per token" in result.output
    assert "formats that can: folder, onnx, safetensors, snn" in result.output
    assert not (tmp_path / "m.nir").exists()


def test_the_nir_exporter_writes_a_file_through_the_registry(tmp_path):
    model = nn.Sequential(nn.Linear(5, 3), neuron("if", reset="hard"))
    (path,) = export_model(model, "nir", tmp_path / "mlp.nir")
    imported = from_nir(path)
    x = torch.randn(4, 5)
    assert torch.equal(imported(x[None])[0], model(x))


# -- graphs as other frameworks write them -----------------------------------------------------------
def euler_lif(x, weights, beta, gain, threshold, v_reset=0.0):
    """Reference: Affine → LIF(β, gain) per layer, hard reset; x (T, B, D)."""
    for weight, bias in weights:
        current = x @ weight.T + bias
        v = torch.zeros_like(current[0])
        spikes = []
        for t in range(current.shape[0]):
            v = beta * v + gain * current[t]
            s = (v > threshold).float()
            v = torch.where(s > 0, torch.full_like(v, v_reset), v)
            spikes.append(s)
        x = torch.stack(spikes)
    return x


def random_layers(sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(o, i, generator=g) * 0.8, torch.randn(o, generator=g) * 0.1) for i, o in itertools.pairwise(sizes)]


def affine_lif_graph(layers, lif):
    nodes, edges, prev = {"input": nir.Input(input_type={"input": np.array([layers[0][0].shape[1]])})}, [], "input"
    for i, (w, b) in enumerate(layers):
        nodes[f"fc{i}"] = nir.Affine(weight=w.numpy(), bias=b.numpy())
        nodes[f"lif{i}"] = lif(w.shape[0])
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        prev = f"lif{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([layers[-1][0].shape[0]])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def test_an_snntorch_style_graph_dt_1e4(tmp_path):
    """snnTorch's Leaky(beta) → LIF(tau = dt/(1−β), r = tau/dt, v_leak = 0) with dt = 1e-4."""
    dt, beta = 1e-4, 0.9
    layers = random_layers([6, 8, 3])
    tau = dt / (1 - beta)
    graph = affine_lif_graph(layers, lambda n: nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / dt),
                                                       v_leak=np.zeros(n), v_threshold=np.ones(n)))
    nir.write(tmp_path / "snntorch.nir", graph)
    imported = from_nir(tmp_path / "snntorch.nir", dt=dt)
    x = torch.rand(20, 2, 6, generator=torch.Generator().manual_seed(13)) * 2  # not the global RNG: order-free
    expected = euler_lif(x, layers, beta, 1.0, 1.0)
    assert expected.sum() > 0
    torch.testing.assert_close(imported(x), expected)
    with pytest.raises(fastsnn.FastSNNError, match=r"decay 1 − dt/τ = .* is outside \(0, 1\]; pass the dt"):
        from_nir(graph)  # dt defaults to 1: the decay would be negative


def test_a_norse_style_graph_dt_1e3():
    """Norse's LIF: tau_mem, r = 1, dt = 1e-3 — the input gain dt·r/τ is folded into the threshold."""
    dt, tau = 1e-3, 5e-3
    layers = random_layers([5, 7, 4], seed=1)
    graph = affine_lif_graph(layers, lambda n: nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n),
                                                       v_threshold=np.full(n, 0.2)))
    imported = from_nir(graph, dt=dt)
    x = torch.rand(25, 3, 5, generator=torch.Generator().manual_seed(11)) * 3  # not the global RNG: order-free
    expected = euler_lif(x, layers, 1 - dt / tau, dt / tau, 0.2)
    assert expected.sum() > 0
    torch.testing.assert_close(imported(x), expected)


def test_a_spikingjelly_style_graph_tau_in_steps():
    """SpikingJelly's LIFNode (decay_input, hard reset to 0): V ← V + (X − V)/τ with τ in steps —
    NIR LIF(tau=τ, r=1, v_leak=0) at dt = 1, so β = 1 − 1/τ and the input gain is 1/τ."""
    tau = 2.0
    layers = random_layers([4, 6, 3], seed=2)
    graph = affine_lif_graph(layers, lambda n: nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n),
                                                       v_threshold=np.ones(n), v_reset=np.zeros(n)))
    imported = from_nir(graph)  # dt defaults to 1
    x = torch.rand(16, 2, 4, generator=torch.Generator().manual_seed(12)) * 3  # not the global RNG: order-free
    expected = euler_lif(x, layers, 1 - 1 / tau, 1 / tau, 1.0)
    assert expected.sum() > 0
    torch.testing.assert_close(imported(x), expected)


def test_a_sinabs_style_cnn_graph():
    """Sinabs: Conv2d → IAF (IF, r = 1, dt = 1) → SumPool2d → Flatten → Affine."""
    g = torch.Generator().manual_seed(3)
    conv_w, conv_b = torch.randn(3, 1, 3, 3, generator=g), torch.zeros(3)
    fc_w, fc_b = torch.randn(2, 3 * 3 * 3, generator=g), torch.randn(2, generator=g)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 6, 6])}),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=conv_w.numpy(), stride=1, padding=1, dilation=1, groups=1,
                           bias=conv_b.numpy()),
        "iaf": nir.IF(r=np.ones((3, 6, 6)), v_threshold=np.ones((3, 6, 6)), v_reset=np.zeros((3, 6, 6))),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=fc_w.numpy(), bias=fc_b.numpy()),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [("input", "conv"), ("conv", "iaf"), ("iaf", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "output")]
    imported = from_nir(nir.NIRGraph(nodes=nodes, edges=edges))
    x = torch.rand(4, 2, 1, 6, 6)
    current = torch.nn.functional.conv2d(x.flatten(0, 1), conv_w, conv_b, padding=1).view(4, 2, 3, 6, 6)
    v, spikes = torch.zeros_like(current[0]), []
    for t in range(4):
        v = v + current[t]
        s = (v > 1).float()
        v = v * (1 - s)
        spikes.append(s)
    pooled = torch.nn.functional.avg_pool2d(torch.stack(spikes).flatten(0, 1), 2) * 4
    expected = (pooled.flatten(1) @ fc_w.T + fc_b).view(4, 2, 2)
    torch.testing.assert_close(imported(x), expected)


def test_skip_connections_sum_their_inputs(tmp_path):
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
            self.spike = neuron("if", reset="hard", threshold=0.1)

        def forward(self, x):
            h = self.a(x)
            return self.spike(h + self.b(h))

    torch.manual_seed(4)
    model = Residual()
    x = torch.randn(5, 4)
    imported = round_trip(model, x, tmp_path)
    assert torch.equal(imported(x[None])[0], model(x))


# -- graphs FastSNN refuses -----------------------------------------------------------------------------
def chain(*middle):
    nodes = {"input": nir.Input(input_type={"input": np.array([3])}), **dict(middle),
             "output": nir.Output(output_type={"output": np.array([3])})}
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)), type_check=False)


def test_unsupported_node_types_are_all_named():
    graph = chain(("syn", nir.CubaLIF(tau_syn=np.ones(3), tau_mem=np.ones(3), r=np.ones(3), v_leak=np.zeros(3),
                                      v_threshold=np.ones(3))),
                  ("wait", nir.Delay(delay=np.ones(3))))
    with pytest.raises(fastsnn.FastSNNError, match=r"NIR node types FastSNN does not support: syn \(CubaLIF\), "
                                                     r"wait \(Delay\); supported: "):
        from_nir(graph)


@pytest.mark.parametrize(("node", "message"), [
    (nir.IF(r=np.ones(3), v_threshold=np.array([1.0, 2.0, 1.0])), r"'n': v_threshold differs across its 3 neurons"),
    (nir.LIF(tau=np.full(3, 4.0), r=np.full(3, 4.0), v_leak=np.full(3, -0.5), v_threshold=np.ones(3)),
     r"'n': v_leak ≠ 0"),
    (nir.IF(r=np.full(3, -1.0), v_threshold=np.ones(3)), r"input gain dt·r = -1 must be positive"),
])
def test_neuron_parameters_fastsnn_cannot_take_are_named(node, message):
    with pytest.raises(fastsnn.FastSNNError, match=message):
        from_nir(chain(("n", node)))


def test_cycles_several_outputs_and_bad_edges_are_refused():
    graph = chain(("a", nir.Affine(weight=np.eye(3), bias=np.zeros(3))), ("b", nir.Affine(weight=np.eye(3),
                                                                                         bias=np.zeros(3))))
    graph.edges.append(("b", "a"))
    with pytest.raises(fastsnn.FastSNNError, match="has a cycle through a, b, output"):
        from_nir(graph)
    graph = chain(("a", nir.Scale(scale=np.ones(3))))
    graph.nodes["output2"] = nir.Output(output_type={"output": np.array([3])})
    graph.edges.append(("a", "output2"))
    with pytest.raises(fastsnn.FastSNNError, match="1 inputs and 2 outputs"):
        from_nir(graph)
    graph = chain(("a", nir.Scale(scale=np.ones(3))))
    graph.edges.append(("ghost", "a"))
    with pytest.raises(fastsnn.FastSNNError, match="an edge to or from 'ghost'"):
        from_nir(graph)


def test_a_file_that_is_not_nir(tmp_path):
    (tmp_path / "x.nir").write_bytes(b"not hdf5")
    with pytest.raises(fastsnn.FastSNNError, match=r"x.nir: not a readable NIR file"):
        from_nir(tmp_path / "x.nir")
    with pytest.raises(fastsnn.FastSNNError, match="needs a nir.NIRGraph or a .nir file path, got dict"):
        from_nir({})


def test_without_the_nir_package_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(fastsnn.FastSNNError, match=r"need the nir package: pip install fastsnn-core\[nir\]"):
        to_nir(nn.Linear(2, 2), torch.zeros(1, 2))
