"""The same code paths on a CUDA device (run where a GPU is present; CPU-only CI skips them)."""

import pytest
import torch
from torch import nn

import fastsnn
from fastsnn_neurons import collect_stats, event_mode

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("name", ["adaptive_threshold", "fixed_threshold", "lif_sint", "if", "lif"])
def test_neurons_on_cuda_match_cpu(name):
    params = {"time_dim": 0} if name in ("lif_sint", "if", "lif") else {}
    cpu_neuron = fastsnn.create("neuron", name, **params)
    cuda_neuron = fastsnn.create("neuron", name, **params).cuda()
    x = torch.randn(6, 4, 33, dtype=torch.float64)
    results = []
    for neuron, device in ((cpu_neuron, "cpu"), (cuda_neuron, "cuda")):
        leaf = x.to(device).requires_grad_(True)
        out = neuron(leaf)
        out.sum().backward()
        results.append((out.detach().cpu(), leaf.grad.cpu()))
    assert torch.allclose(results[0][0], results[1][0]) and torch.allclose(results[0][1], results[1][1])


@pytest.mark.parametrize("name", ["binary", "ternary", "bitwise", "bitwise_bidirectional", "twos_complement"])
def test_codings_on_cuda(name):
    coding = fastsnn.create("coding", name)
    counts = torch.randint(0 if not coding.signed else -40, 41, (1000,), device="cuda")
    events = coding.encode(counts)
    assert events.device.type == "cuda" and events.dtype == torch.int8
    assert torch.equal(coding.decode(events), counts)
    assert torch.equal(events.cpu(), coding.encode(counts.cpu()))


def test_event_mode_on_cuda():
    model = nn.Sequential(nn.Linear(12, 40), fastsnn.create("neuron", "adaptive_threshold"),
                          nn.Linear(40, 5)).double().cuda().eval()
    x = torch.randn(7, 12, dtype=torch.float64, device="cuda")
    with torch.no_grad():
        expected = model(x)
        with collect_stats(model) as stats, event_mode(model, coding="bitwise_bidirectional") as record:
            got = model(x)
    assert torch.allclose(got, expected)
    assert record.spikes("1").spikes.device.type == "cuda"
    assert stats["1"].values == 7 * 40
