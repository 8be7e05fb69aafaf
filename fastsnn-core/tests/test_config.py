"""Configs: component references, full error paths, files in three formats, round trips."""

import json

import pytest
from pydantic import ValidationError

from fastsnn.config import ModelConfig, RunConfig, load_config, read_config_file
from fastsnn.errors import ConfigError
from fastsnn.registry import format_validation_error
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


BASE = {"vocab_size": 50, "d_model": 16, "n_layers": 3, "n_heads": 2, "neuron": "half", "attention": "cummean"}


def errors_of(exc):
    return format_validation_error(exc.value)


def test_reference_by_name_or_table_round_trips():
    cfg = ModelConfig.model_validate({**BASE, "attention": {"name": "cummean", "window": 7}})
    assert cfg.attention.name == "cummean" and cfg.attention.params == {"window": 7}
    dumped = cfg.model_dump()
    assert dumped["attention"] == {"name": "cummean", "window": 7} and dumped["neuron"] == "half"
    assert ModelConfig.model_validate(json.loads(json.dumps(dumped))) == cfg


def test_wrong_param_has_full_path():
    layers = [{"name": "cummean"}, {"name": "cummean"}, {"name": "cummean", "window": 0}]
    with pytest.raises(ValidationError) as err:
        RunConfig.model_validate({"model": {**BASE, "attention": layers}})
    assert "model.attention[2].window: Input should be greater than 0" in errors_of(err)


def test_extra_param_has_full_path():
    with pytest.raises(ValidationError) as err:
        ModelConfig.model_validate({**BASE, "neuron": {"name": "half", "threshhold": 1}})
    assert "neuron.threshhold: Extra inputs are not permitted" in errors_of(err)


def test_all_errors_are_reported_at_once():
    bad = {**BASE, "d_model": -1, "neuron": {"name": "half", "threshold": 0}, "ffn": "plse"}
    with pytest.raises(ValidationError) as err:
        ModelConfig.model_validate(bad)
    text = errors_of(err)
    assert "d_model: Input should be greater than 0" in text
    assert "neuron.threshold: Input should be greater than 0" in text
    assert "ffn: unknown ffn 'plse' (did you mean 'pulse'?)" in text


def test_unknown_component_names_install_hint():
    with pytest.raises(ValidationError) as err:
        ModelConfig.model_validate({**BASE, "neuron": "adaptive_threshold"})
    assert "provided by fastsnn-neurons" in errors_of(err)


def test_shape_rules():
    with pytest.raises(ValidationError, match="n_heads \\(3\\) must divide d_model \\(16\\)"):
        ModelConfig.model_validate({**BASE, "n_heads": 3})
    with pytest.raises(ValidationError, match="attention lists 1 layers but n_layers is 3"):
        ModelConfig.model_validate({**BASE, "attention": ["cummean"]})
    with pytest.raises(ValidationError, match="softmax_layers \\[5\\] out of range"):
        ModelConfig.model_validate({**BASE, "softmax_layers": [5]})


def test_layer_attention_expands_a_single_kernel():
    cfg = ModelConfig.model_validate(BASE)
    assert [r.name for r in cfg.layer_attention()] == ["cummean"] * 3


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
def test_files_in_each_format_load_the_same(tmp_path, suffix):
    texts = {
        ".toml": '[model]\nvocab_size = 50\nd_model = 16\nn_layers = 3\nn_heads = 2\nneuron = "half"\n'
                 'attention = {name = "cummean", window = 5}\n',
        ".json": json.dumps({"model": {**BASE, "attention": {"name": "cummean", "window": 5}}}),
        ".yaml": "model:\n  vocab_size: 50\n  d_model: 16\n  n_layers: 3\n  n_heads: 2\n  neuron: half\n"
                 "  attention: {name: cummean, window: 5}\n",
    }
    path = tmp_path / f"run{suffix}"
    path.write_text(texts[suffix])
    cfg = load_config(path, RunConfig)
    assert cfg.model.attention.params == {"window": 5}


@pytest.mark.parametrize(
    ("suffix", "text", "expected"),
    [
        (".toml", "[model]\nvocab_size = 50\nd_model = = 3\n", "line 3"),
        (".json", '{\n  "model": {\n    "vocab_size": 50,\n  }\n}', ":4: invalid JSON at line 4"),
        (".yaml", "model:\n  vocab_size: 50\n   d_model: [1\n", "invalid YAML at line"),
    ],
)
def test_malformed_file_names_file_and_line(tmp_path, suffix, text, expected):
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        read_config_file(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_missing_and_unknown_format_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.toml"):
        read_config_file(tmp_path / "nope.toml")
    (tmp_path / "c.ini").write_text("x=1")
    with pytest.raises(ConfigError, match="unknown config format '.ini'"):
        read_config_file(tmp_path / "c.ini")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="top level must be a table"):
        read_config_file(tmp_path / "list.json")


def test_load_config_reports_paths_with_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[model]\nvocab_size = 50\nneuron = {name = "half", threshold = -2}\nattention = "cummean"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, RunConfig)
    assert str(path) in str(err.value) and "model.neuron.threshold: Input should be greater than 0" in str(err.value)


def test_empty_run_config_is_an_error():
    with pytest.raises(ValidationError, match="none of the tables"):
        RunConfig.model_validate({})
