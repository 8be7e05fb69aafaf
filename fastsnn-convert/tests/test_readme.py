"""Every ```python block of this package's README runs, in order, in one namespace (with the
real neurons of fastsnn-neurons, which the README's default neuron comes from)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from fastsnn.testing import use_plugins
from fastsnn_convert import plugin as convert_plugin

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run_as_written(_plugins, capsys):
    pytest.importorskip("fastsnn_neurons", reason="the README's default neuron comes from fastsnn-neurons")
    from fastsnn_neurons import plugin as neurons_plugin

    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) == 3
    namespace: dict = {}
    torch.manual_seed(0)
    with use_plugins(convert_plugin, neurons_plugin):
        for index, block in enumerate(blocks):
            exec(compile(block, f"{README}:block{index}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "ANN→SNN conversion: 5 replaced, 0 kept" in out and "True" in out and "target met" in out
    with torch.no_grad():
        torch.testing.assert_close(namespace["y"], namespace["snn"](namespace["x"]), rtol=1e-4, atol=1e-5)
