"""The plugin as FastSNN sees it: registration, metadata, entry point, tracing."""

import subprocess
import sys

import fastsnn
from fastsnn import PLUGIN_API_VERSION
from fastsnn_example import plugin


def test_registers_one_component_of_each_kind(_only_this_plugin):
    info = _only_this_plugin.plugins["fastsnn_example.plugin"]
    assert info.status == "ok"
    assert sorted(info.components) == ["attention:retention", "coding:balanced_ternary", "neuron:clipped_sint",
                                       "rule:hardtanh", "spike_regularizer:firing_rate", "surrogate:superspike"]
    assert info.kinds == ["spike_regularizer"]
    assert info.hooks == ["fastsnn_register_attention", "fastsnn_register_codings",
                          "fastsnn_register_conversion_rules", "fastsnn_register_kinds",
                          "fastsnn_register_neurons", "fastsnn_register_spike_regularizers",
                          "fastsnn_register_surrogates"]


def test_depends_on_fastsnn_core_only():
    """No module of the package imports another plugin package (fastsnn_neurons, fastsnn_attention, ...)."""
    import ast
    from pathlib import Path

    import fastsnn_example

    imported = set()
    for path in Path(fastsnn_example.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert {name for name in imported if name.startswith("fastsnn")} == {"fastsnn", "fastsnn_example"}


def test_parameters_are_declared_once():
    """What ``fastsnn info`` shows (the Params schema) is what a Python caller gets, and no
    ``__init__`` repeats a parameter."""
    import inspect

    from fastsnn import get_registry

    ours = [spec for spec in get_registry().specs() if spec.plugin == "fastsnn_example.plugin"]
    assert sorted(spec.name for spec in ours) == ["balanced_ternary", "clipped_sint", "firing_rate", "hardtanh",
                                                  "retention", "superspike"]
    for spec in ours:
        signature = inspect.signature(spec.factory.__init__)
        assert not set(spec.params.model_fields) & set(signature.parameters), spec.name
        context = {"d_model": 24, "n_heads": 3} if spec.kind == "attention" else {}
        assert get_registry().create(spec.kind, spec.name, **context).params == spec.factory(**context).params


def test_components_describe_themselves():
    ours = {"clipped_sint", "retention", "hardtanh", "superspike", "balanced_ternary"}
    by_name = {c["name"]: c for c in fastsnn.components() if c["name"] in ours}
    assert by_name["clipped_sint"]["description"].startswith("Fixed-threshold integer spikes")
    assert set(by_name["retention"]["params"]["properties"]) == {"min_decay", "max_decay", "head_norm"}
    assert by_name["superspike"]["kind"] == "surrogate" and by_name["balanced_ternary"]["kind"] == "coding"
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
