"""The plugin as FastSNN sees it: registration, metadata, entry point, tracing."""

import subprocess
import sys

import fastsnn
from fastsnn import PLUGIN_API_VERSION
from fastsnn_example import plugin


def test_registers_one_component_of_each_kind(_only_this_plugin):
    info = _only_this_plugin.plugins["fastsnn_example.plugin"]
    assert info.status == "ok"
    assert sorted(info.components) == ["attention:retention", "neuron:clipped_sint", "rule:hardtanh"]
    assert info.hooks == ["fastsnn_register_attention", "fastsnn_register_conversion_rules",
                          "fastsnn_register_neurons"]


def test_components_describe_themselves():
    by_name = {c["name"]: c for c in fastsnn.components() if c["name"] in {"clipped_sint", "retention", "hardtanh"}}
    assert by_name["clipped_sint"]["description"].startswith("Fixed-threshold integer spikes")
    assert set(by_name["retention"]["params"]["properties"]) == {"min_decay", "max_decay", "head_norm"}
    assert by_name["hardtanh"]["kind"] == "rule"


def test_declares_the_api_version_core_provides():
    assert plugin.PLUGIN_API_VERSION.split(".")[0] == PLUGIN_API_VERSION.split(".")[0]


def test_installed_entry_point_is_discovered_and_traced():
    """Through the real entry point of the installed distribution, in a fresh process."""
    code = ("import fastsnn; from fastsnn.plugins import get_plugin_manager; "
            "info = get_plugin_manager().plugins['example']; print(info.distribution, info.status)")
    env = {"FASTSNN_LOAD_PLUGINS": "example", "FASTSNN_TRACE_PLUGINS": "1", "PATH": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["fastsnn-example", "ok"]
    assert "fastsnn_register_neurons from example: registered ['clipped_sint']" in result.stderr


def test_readme_usage_example_runs(capsys):
    import re
    import textwrap
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    first_block = textwrap.dedent(re.search(r"```python\n(.*?)```", readme, re.S).group(1))
    namespace: dict = {}
    exec(compile(first_block, "README.md", "exec"), namespace)
    assert capsys.readouterr().out.strip() == "tensor([-2.,  1.,  3.])"
    assert namespace["logits"].shape == (2, 16, 100)
