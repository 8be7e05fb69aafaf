"""The README's Hugging Face section runs as written (its ```py blocks, in one namespace)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("fastsnn_neurons")
pytest.importorskip("fastsnn_attention")

from fastsnn.testing import use_plugins
from fastsnn_attention import plugin as attention_plugin
from fastsnn_convert import plugin as convert_plugin
from fastsnn_neurons import plugin as neurons_plugin

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_hugging_face_section_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Hugging Face (extra `hf`)\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```py\n(.*?)^```", section, re.S | re.M)
    assert blocks
    monkeypatch.chdir(tmp_path)  # the example writes converted-llama/
    namespace: dict = {}
    with use_plugins(convert_plugin, neurons_plugin, attention_plugin):
        for index, block in enumerate(blocks):
            exec(compile(block, f"{README}:hf-block{index}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "W8ASpike (Llama): 14 linear layers" in out and "top-1 agreement" in out
    assert "LlamaForCausalLM (llama) → SpikingLM: layers linear, swa" in out
    assert (tmp_path / "converted-llama" / "model.safetensors").is_file()
    assert namespace["what"].layers == [("linear", "softmax"), ("swa", "softmax")]
