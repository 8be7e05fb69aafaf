"""The documentation site says what is true.

- The getting-started page shows the root README's two set-up commands, exactly.
- Every command and code block of the pipeline page runs as written, in order, from a copy of
  ``examples/`` (``fastsnn train`` with ``--max-steps 2`` instead of the page's 50).
- The page generator (``docs/gen_pages.py``, run by mkdocs-gen-files in ``nox -s docs``) renders
  the params rows of ``fastsnn info``, rewrites links right, and lists the pages that exist.

The site itself is built with ``mkdocs build --strict`` by the ``docs`` nox session.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import fastsnn
from fastsnn.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def load_gen_pages():
    spec = importlib.util.spec_from_file_location("docs_gen_pages", DOCS / "gen_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines the functions only: main() runs under mkdocs
    return module


def blocks(markdown: str) -> list[tuple[str, str]]:
    """The fenced ``bash`` and ``python`` blocks of a page, in order: (language, body)."""
    return re.findall(r"^```(bash|python)[ \t]*\n(.*?)^```", markdown, re.S | re.M)


def commands(body: str) -> list[list[str]]:
    return [argv for line in body.splitlines() for part in line.split("&&")
            if (argv := shlex.split(part, comments=True))]


def test_getting_started_shows_the_readme_commands():
    readme = [b for lang, b in blocks((REPO / "README.md").read_text(encoding="utf-8")) if lang == "bash"][:2]
    page = [b for lang, b in blocks((DOCS / "getting-started.md").read_text(encoding="utf-8")) if lang == "bash"][:2]
    assert page == readme
    assert "fastsnn demo" in page[0] and "python3 -m nox" in page[1]


def test_pipeline_page_covers_every_stage():
    text = (DOCS / "pipeline.md").read_text(encoding="utf-8")
    assert re.findall(r"^## \d\. (\w+)", text, re.M) == ["Build", "Train", "Convert", "Export", "Scope"]
    argvs = [argv for lang, body in blocks(text) if lang == "bash" for argv in commands(body)]
    assert [argv[1] for argv in argvs] == ["validate", "train", "generate", "eval", "export", "export", "inspect",
                                           "generate", "scope", "export", "scope"]


def shorten(argv: list[str]) -> list[str]:
    if argv[1] == "train":
        argv = [*argv]
        argv[argv.index("--max-steps") + 1] = "2"
    return argv


def test_shorten_only_touches_train():
    assert shorten(["fastsnn", "train", "c.toml", "--max-steps", "50"]) == ["fastsnn", "train", "c.toml",
                                                                          "--max-steps", "2"]
    assert shorten(["fastsnn", "export", "r", "--out", "e"]) == ["fastsnn", "export", "r", "--out", "e"]


@pytest.mark.slow
def test_pipeline_page_runs_as_written(tmp_path, monkeypatch):
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    script = Path(sys.executable).with_name("fastsnn")
    fastsnn_cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "fastsnn"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    outputs = []
    for index, (lang, body) in enumerate(blocks((DOCS / "pipeline.md").read_text(encoding="utf-8"))):
        if lang == "python":
            exec(compile(body, f"docs/pipeline.md[block {index}]", "exec"), {"__name__": "__docs__"})
            continue
        for argv in commands(body):
            run = shorten(argv)
            result = subprocess.run([*fastsnn_cmd, *run[1:]], cwd=tmp_path, env=env, capture_output=True,
                                    text=True, timeout=600)
            assert result.returncode == 0, f"{shlex.join(run)} exited {result.returncode}:\n{result.stderr}"
            outputs.append(result.stdout)
    assert outputs[0].startswith("examples/tinyshakespeare.toml: OK")
    assert outputs[2].startswith("ROMEO:") and outputs[7].startswith("ROMEO:")
    assert "perplexity" in outputs[3]
    assert sorted(p.name for p in (tmp_path / "exported" / "pipeline").iterdir()) == [
        "config.json", "model.safetensors", "tokenizer.json"]
    assert (tmp_path / "exported" / "pipeline.snn").is_file() and "manifest" in outputs[6]
    assert "report: scope/pipeline/report.html" in outputs[8] and "report: scope/w8/report.html" in outputs[10]
    assert (tmp_path / "scope" / "convert" / "report.html").is_file()


# --- the page generator ---------------------------------------------------------------------


def test_params_table_is_fastsnn_info():
    gen = load_gen_pages()
    spec = fastsnn.get_registry().get("norm", "rmsnorm")
    table = gen.params_table(spec.params).splitlines()
    assert table[0] == "| param | type | default | constraints | description |"
    info = CliRunner().invoke(cli, ["info", "norm", "rmsnorm"]).output
    for row, field in zip(table[2:], spec.params.model_fields, strict=True):
        assert row.startswith(f"| `{field}` |")
        assert re.search(rf"^{field}\s", info, re.M), f"fastsnn info does not show {field}"
    assert len(table) == 2 + len(spec.params.model_fields)


def test_table_cells_escape_pipes_and_brackets():
    gen = load_gen_pages()
    assert gen.cell("int | None") == "int &#124; None"
    assert gen.cell("Literal['a', 'b']\n  <x>") == "Literal['a', 'b'] &lt;x&gt;"


def test_links_go_to_pages_assets_or_the_repository():
    gen = load_gen_pages()
    assets: dict[str, str] = {}
    text = ("[core](../fastsnn-core/README.md#the-factory) [bench](../BENCHMARKS.md) "
            "[plugin](src/fastsnn_example/plugin.py) [web](https://example.org) [here](#install) "
            "![plot](../benchmarks/results/model.png) [tests](tests)")
    out = gen.rewrite_links(text, "plugins-example/README.md", "plugins.md", assets)
    assert out == ("[core](packages/core.md#the-factory) [bench](benchmarks.md) "
                   f"[plugin]({gen.REPO_URL}/blob/main/plugins-example/src/fastsnn_example/plugin.py) "
                   "[web](https://example.org) [here](#install) "
                   "![plot](assets/benchmarks/results/model.png) "
                   f"[tests]({gen.REPO_URL}/tree/main/plugins-example/tests)")
    assert assets == {"assets/benchmarks/results/model.png": "benchmarks/results/model.png"}
    assert gen.rewrite_links("[home](../../README.md)", "a/b/c.md", "packages/core.md", {}) == "[home](../index.md)"


def test_navigation_lists_what_exists(tmp_path):
    gen = load_gen_pages()
    scripts = sorted((REPO / "examples").glob("*.py"))
    nav = gen.navigation(["neuron", "attention"], scripts, docs=tmp_path)
    assert "* [The .snn format](snn-format.md)" not in nav
    assert "    * [neuron](components/neuron.md)\n    * [attention](components/attention.md)\n" in nav
    for script in scripts:
        assert f"(examples/{script.stem}.md)" in nav
    (tmp_path / "snn-format.md").write_text("# .snn\n", encoding="utf-8")
    assert "* [The .snn format](snn-format.md)" in gen.navigation([], scripts, docs=tmp_path)


def test_every_installed_kind_gets_a_page_with_its_components():
    gen = load_gen_pages()
    registry = fastsnn.get_registry()
    page = gen.kind_page(registry.kind("attention"), registry.specs("attention"))
    assert "required `d_model`, `n_heads`; optional `layer_idx`, `max_seq_len`" in page
    assert "## `swa`" in page and "::: fastsnn_attention.layers.swa.SlidingWindowAttention" in page
    assert "::: fastsnn.attention.AttentionBase" in page
    assert "## The contract" not in gen.kind_page(registry.kind("norm"), registry.specs("norm"))  # torch.nn.Module
    index = gen.components_index(registry)
    for kind in registry.kinds:
        assert f"| [{kind}]({kind}.md) |" in index


def test_a_script_without_docstring_is_refused(tmp_path):
    gen = load_gen_pages()
    script = tmp_path / "bare.py"
    script.write_text("print(1)\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="bare.py has no docstring"):
        gen.example_title(script)
