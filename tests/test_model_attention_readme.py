"""Every ```python block of fastsnn-attention's README runs, in order, in one namespace
(with fastsnn-neurons installed: the model example uses the default adaptive_threshold FFN)."""

from __future__ import annotations

import re
from pathlib import Path

import torch

import fastsnn_attention.plugin
import fastsnn_neurons.plugin
from fastsnn.testing import use_plugins

README = Path(__file__).resolve().parents[1] / "fastsnn-attention" / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) >= 4
    namespace: dict = {}
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster, and much faster on a busy machine
    try:
        with use_plugins(fastsnn_neurons.plugin, fastsnn_attention.plugin):
            for block in blocks:
                exec(compile(block, str(README), "exec"), namespace)
    finally:
        torch.set_num_threads(previous_threads)
