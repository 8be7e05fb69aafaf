"""Save a model folder and load it back.

``save_pretrained`` writes ``model.safetensors`` and ``config.json`` (atomically); the folder
is what ``fastsnn export`` writes and what ``fastsnn.from_pretrained`` and ``fastsnn generate``
read. The loaded model gives the same logits.
"""

import tempfile
from pathlib import Path

import torch

import fastsnn
from fastsnn.config import ModelConfig
from fastsnn.model import build_model

torch.manual_seed(0)
model = build_model(ModelConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4)).eval()
ids = torch.randint(0, 50, (1, 10))

with tempfile.TemporaryDirectory() as tmp:
    folder = model.save_pretrained(Path(tmp) / "tiny")
    print("wrote", sorted(p.name for p in folder.iterdir()))
    loaded = fastsnn.from_pretrained(folder)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids), model(ids), rtol=0, atol=0)
print("the loaded model gives the same logits")
