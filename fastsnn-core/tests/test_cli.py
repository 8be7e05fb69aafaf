"""The CLI in-process (click's runner) with a controlled plugin set."""

import json

import pytest
from click.testing import CliRunner

from fastsnn.cli.main import cli
from fastsnn.cli.scaffold import scaffold_plugin
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and "fastsnn, version" in result.output


def test_plugins_json_reports_each_plugin():
    result = run("plugins", "--json")
    assert result.exit_code == 0
    data = {p["name"]: p for p in json.loads(result.output)}
    assert data["toy"]["status"] == "ok" and "neuron:half" in data["toy"]["components"]
    assert data["fastsnn.builtins"]["distribution"] == "fastsnn-core"
    assert {"name", "distribution", "version", "hooks", "components", "status", "error"} <= set(data["toy"])


def test_plugins_table_shows_broken_plugin():
    with use_plugins(make_plugin(), ("future", make_plugin("future", api="9.0")), strict=False):
        result = run("plugins")
    assert result.exit_code == 0
    assert "broken" in result.output and "plugin API 9.0" in result.output


def test_list_all_and_one_kind():
    result = run("list")
    assert result.exit_code == 0 and "cummean" in result.output and "pulse" in result.output
    result = run("list", "neuron", "--json")
    assert [c["name"] for c in json.loads(result.output)] == ["half"]


def test_list_unknown_kind_is_usage_error():
    result = run("list", "neurons")
    assert result.exit_code == 2 and "unknown component kind 'neurons' (did you mean 'neuron'?)" in result.output


def test_info_shows_params_with_types_defaults_descriptions():
    result = run("info", "neuron", "half")
    assert result.exit_code == 0
    assert "threshold" in result.output and "float" in result.output and "0.5" in result.output
    assert "value of one spike" in result.output
    schema = json.loads(run("info", "neuron", "half", "--json").output)["params"]
    assert schema["properties"]["threshold"]["exclusiveMinimum"] == 0


def test_info_unknown_name_exits_2_with_suggestion_and_no_traceback():
    result = CliRunner().invoke(cli, ["info", "neuron", "hlf"])
    assert result.exit_code == 2
    assert "did you mean 'half'" in result.output and "Traceback" not in result.output


def test_debug_shows_traceback():
    result = CliRunner().invoke(cli, ["--debug", "info", "neuron", "hlf"])
    assert result.exit_code == 2 and "Traceback" in result.output


def test_validate_ok_and_errors(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[model]\nvocab_size = 10\nd_model = 8\nn_heads = 2\nn_layers = 2\nneuron = "half"\n'
                    'attention = "cummean"\n')
    result = run("validate", str(good))
    assert result.exit_code == 0 and "OK" in result.output and "cummean, cummean" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nvocab_size = 0\nneuron = {name = "half", threshold = -1}\nattention = "cumean"\n'
                   '[train]\nlr = -1\n')
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    for expected in ("model.vocab_size: Input should be greater than 0",
                     "model.neuron.threshold: Input should be greater than 0",
                     "model.attention: unknown attention or layout 'cumean' (did you mean 'cummean'?)",
                     "train.lr: Input should be greater than 0", "4 error(s)"):
        assert expected in result.output


def test_validate_missing_or_malformed_file(tmp_path):
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "none.toml")])
    assert result.exit_code == 2 and "config file not found" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": \n {"vocab_size": }}')
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 2 and "bad.json:2: invalid JSON at line 2" in result.output


def test_plugin_new_scaffolds_a_package(tmp_path):
    result = run("plugin", "new", "spiky", "--dir", str(tmp_path))
    assert result.exit_code == 0
    root = tmp_path / "fastsnn-spiky"
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points.fastsnn]\nspiky = "fastsnn_spiky.plugin"' in pyproject
    assert (root / "src" / "fastsnn_spiky" / "plugin.py").exists()
    assert (root / "tests" / "test_spiky.py").exists()


def test_plugin_new_bad_name_and_existing_dir(tmp_path):
    result = CliRunner().invoke(cli, ["plugin", "new", "Bad Name", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "not valid" in result.output
    scaffold_plugin("twice", tmp_path)
    result = CliRunner().invoke(cli, ["plugin", "new", "twice", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "already exists" in result.output


def test_scaffolded_plugin_module_works_in_process(tmp_path):
    import importlib.util

    root = scaffold_plugin("inproc", tmp_path)
    spec = importlib.util.spec_from_file_location("fastsnn_inproc_plugin", root / "src" / "fastsnn_inproc" / "plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import fastsnn

    with use_plugins(module):
        neuron = fastsnn.create("neuron", "inproc_step", threshold=0.5)
    assert neuron.spikes(__import__("torch").tensor([1.2])).counts.item() == 2.0


def test_bench_lists_and_rejects_unknown():
    result = run("bench")
    assert result.exit_code == 0
    result = CliRunner().invoke(cli, ["bench", "nope"])
    assert result.exit_code == 2 and "unknown benchmark 'nope'" in result.output
    result = CliRunner().invoke(cli, ["bench", "nope", "--set", "novalue"])
    assert result.exit_code == 2 and "key=value" in result.output
