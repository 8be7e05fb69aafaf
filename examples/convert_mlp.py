"""Convert a trained ANN into an SNN and calibrate its thresholds.

A small ReLU network is converted by the registered rules (ReLU → adaptive-threshold spiking
neuron, Linear → TemporalLinear); the report says what was replaced. ``calibrate`` then picks
each spiking layer's ``k`` from data to meet a relative-error target.
"""

import torch
from torch import nn

from fastsnn.convert import convert
from fastsnn_convert import calibrate

torch.manual_seed(0)
ann = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4)).eval()
batches = [torch.randn(32, 16) for _ in range(4)]                    # calibration inputs, (32, 16) each

snn, report = convert(ann, neuron="adaptive_threshold")
print(report)
calibration = calibrate(snn, batches, max_rel_error=0.05)
print(calibration)

x = torch.randn(256, 16)
with torch.no_grad():
    reference, spiking = ann(x), snn(x)
error = ((spiking - reference).norm() / reference.norm()).item()
print(f"output relative error of the SNN: {error:.3f}")
assert error < 0.2, error
