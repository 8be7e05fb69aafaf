"""Find components by kind and name, and build one with its params.

Everything pluggable — neurons, attention kernels, codings, conversion rules, exporters — is a
registered component. ``fastsnn.components`` lists them with their params schema;
``fastsnn.create`` builds one, validating its params (a bad value raises ``FastSNNError``
naming the component and the field).
"""

import torch

import fastsnn

for kind in ("neuron", "attention", "coding"):
    print(f"{kind:10s}", ", ".join(spec["name"] for spec in fastsnn.components(kind)))

neuron = fastsnn.create("neuron", "adaptive_threshold", k=2.0)
print(neuron.params)                                          # the validated Params
spikes = neuron.spikes(torch.tensor([[0.5, -1.0, 2.0, 0.0]]))  # V_th = mean|x|/k = 0.4375
print("counts:", spikes.counts.tolist())                      # round(x / V_th)
assert spikes.counts.tolist() == [[1.0, -2.0, 5.0, 0.0]]

try:
    fastsnn.create("neuron", "adaptive_threshold", k=-1)
except fastsnn.FastSNNError as err:
    print("refused:", err)
