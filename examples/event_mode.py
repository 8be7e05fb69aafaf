"""Train with spike counts, run with spike events.

A pulse FFN whose sINT neurons emit integer spike counts (the training form) is run again in
event mode: each neuron replays its counts as a train of binary spike events (bitwise coding)
through integrate-and-fire. The outputs agree, and ``collect_stats`` reports firing rates.
"""

import torch

import fastsnn
from fastsnn_neurons import collect_stats, event_mode

torch.manual_seed(0)
neuron = {"name": "adaptive_threshold", "k": 3.0, "signed": False}   # ReLU-like counts >= 0
ffn = fastsnn.create("ffn", "pulse", d_model=32, d_ff=128, neuron=neuron).eval()
x = torch.randn(2, 8, 32)                                            # (batch, tokens, d_model)

with torch.no_grad():
    dense = ffn(x)                                                   # count mode
    with event_mode(ffn, coding="bitwise"):
        events = ffn(x)                                              # event mode, same weights
    with collect_stats(ffn) as stats:
        ffn(x)

print(f"largest count-vs-event difference: {(events - dense).abs().max():.1e}")
torch.testing.assert_close(events, dense, rtol=1e-4, atol=1e-5)
for name, s in stats.items():
    print(f"{name}: {s.values} values, {s.zero_counts / s.values:.0%} silent, {s.spikes} spikes in all")
