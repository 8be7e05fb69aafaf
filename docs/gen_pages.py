"""Pages generated at build time (mkdocs-gen-files runs this file; nothing here is copied by hand).

- ``components/``: one page per component kind, from the live registry with every installed
  package loaded (``fastsnn.get_registry()``): each component's name, origin, params table (the
  rows ``fastsnn info`` prints: type, default, constraints, description) and docstring
  (mkdocstrings), and the kind's contract class. A broken plugin fails the build.
- ``plugins.md``, ``packages/*.md``, ``benchmarks.md``, ``changelog.md``: the repository's own
  Markdown files (plugins-example/README.md, each package README, BENCHMARKS.md, CHANGELOG.md)
  with their links rewritten: to the page that now holds the file, to a copied image, or to the
  file in the repository.
- ``examples/``: one page per ``examples/*.py`` script (its docstring, then its code); the
  scripts run in the test suite (``tests/test_example_scripts.py``).
- ``SUMMARY.md``: the navigation (mkdocs-literate-nav); ``snn-format.md`` is listed when present.

``tests/test_docs.py`` imports this module (without mkdocs) to test the pieces.
"""

from __future__ import annotations

import ast
import inspect
import posixpath
import re
from pathlib import Path

import fastsnn
from fastsnn.cli.discover import param_rows

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
REPO_URL = "https://github.com/fastsnn/fastsnn"  # the packages' [project.urls] Repository

PACKAGE_PAGES = {  # repository README -> (generated page, distribution), in navigation order
    "fastsnn-core/README.md": ("packages/core.md", "fastsnn-core"),
    "fastsnn-neurons/README.md": ("packages/neurons.md", "fastsnn-neurons"),
    "fastsnn-attention/README.md": ("packages/attention.md", "fastsnn-attention"),
    "fastsnn-convert/README.md": ("packages/convert.md", "fastsnn-convert"),
}
COPIED_PAGES = {  # repository Markdown file -> generated page
    "plugins-example/README.md": "plugins.md",
    "BENCHMARKS.md": "benchmarks.md",
    "CHANGELOG.md": "changelog.md",
    **{source: page for source, (page, _) in PACKAGE_PAGES.items()},
}
PAGE_OF = {**COPIED_PAGES, "README.md": "index.md"}  # links to the root README land on the home page
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)")


# ---------------------------------------------------------------------------------------------
# repository Markdown files as pages


def rewrite_links(text: str, source: str, page: str, assets: dict[str, str]) -> str:
    """``text`` of the repository file ``source`` (a repo path) with links made right for ``page``.

    A link to a file that has a page goes to the page; an image is copied (``assets`` gets
    ``docs path -> repo path``); anything else in the repository links to the repository.
    """

    def fix(match: re.Match[str]) -> str:
        target = match["target"]
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return match[0]
        path, _, fragment = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        anchor = f"#{fragment}" if fragment else ""
        if repo_path in PAGE_OF:
            new = posixpath.relpath(PAGE_OF[repo_path], posixpath.dirname(page)) + anchor
        elif match["bang"] and (REPO / repo_path).is_file():
            assets[f"assets/{repo_path}"] = repo_path
            new = posixpath.relpath(f"assets/{repo_path}", posixpath.dirname(page))
        else:
            kind = "tree" if (REPO / repo_path).is_dir() else "blob"
            new = f"{REPO_URL}/{kind}/main/{repo_path}{anchor}"
        return f"{match['bang']}[{match['text']}]({new}{match['title'] or ''})"

    return LINK.sub(fix, text)


# ---------------------------------------------------------------------------------------------
# component kinds from the registry


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell (one line; pipes and angle brackets escaped)."""
    text = " ".join(str(text).split())
    return text.replace("|", "&#124;").replace("<", "&lt;").replace(">", "&gt;")


def params_table(params: type) -> str:
    """A component's params as a Markdown table: the rows of ``fastsnn info``."""
    rows = param_rows(params)
    if not rows:
        return "No parameters.\n"
    lines = ["| param | type | default | constraints | description |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| `{row['param']}` | {cell(row['type'])} | {cell(row['default'])} | "
                     f"{cell(row['constraints'])} | {cell(row['description'])} |")
    return "\n".join(lines) + "\n"


def mkdocstrings_block(obj: object, **options: object) -> str:
    """A ``::: module.Qualname`` block (the object's docstring, rendered by mkdocstrings)."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or "<" in qualname:  # made in a function: its docstring as text
        doc = inspect.getdoc(obj)
        return f"{doc}\n" if doc else ""
    lines = [f"::: {module}.{qualname}", "    options:"]
    lines += [f"      {key}: {str(value).lower() if isinstance(value, bool) else value}"
              for key, value in options.items()]
    return "\n".join(lines) + "\n"


def kind_page(kind: fastsnn.Kind, specs: list) -> str:
    out = [f"# `{kind.name}`\n", f"{kind.description}\n"]
    facts = [f"- **Registered through** the hook `{kind.hook}(register)`; the kind is declared by "
             f"`{kind.declared_by}`."]
    if kind.all_context:
        required = ", ".join(f"`{name}`" for name in kind.context) or "none"
        optional = ", ".join(f"`{name}`" for name in kind.optional_context) or "none"
        facts.append(f"- **Context** (supplied by the builder, not params): required {required}; "
                     f"optional {optional}.")
    if kind.built_context:
        built = ", ".join(f"`{arg}` (a `{of}`)" for arg, of in kind.built_context.items())
        facts.append(f"- **Built context**: {built}, given by name or table and built first.")
    if kind.base:
        required = f" and define {', '.join(f'`{m}`' for m in kind.required)}" if kind.required else ""
        facts.append(f"- **Contract**: subclass `{kind.base.replace(':', '.')}`{required} "
                     "(checked when a plugin registers).")
    out.append("\n".join(facts) + "\n")
    out.append(f"From the command line: `fastsnn list {kind.name}`, `fastsnn info {kind.name} NAME`.\n")
    if not specs:
        out.append("No installed package registers a component of this kind.\n")
    for spec in specs:
        out.append(f"## `{spec.name}`\n")
        doc = inspect.getdoc(spec.factory) or ""
        if not doc.startswith(spec.description):  # else the docstring below opens with it
            out.append(f"{spec.description}\n")
        out.append(f"*From plugin `{spec.plugin}` ({spec.distribution} {spec.version}); "
                   f"`{spec.qualified_name}` names it if another plugin registers the same name.*\n")
        out.append("**Params**\n")
        out.append(params_table(spec.params))
        out.append(mkdocstrings_block(spec.factory, show_root_heading=False, show_root_toc_entry=False,
                                      members=False, show_bases=False, show_signature=False, heading_level=3))
    base = kind.base_class()
    if base is not None and base.__module__.split(".")[0].startswith("fastsnn"):  # not torch.nn.Module
        out.append("## The contract\n")
        out.append(mkdocstrings_block(base, show_root_heading=True, show_root_toc_entry=True,
                                      members_order="source", heading_level=3, show_bases=True,
                                      filters='["!^_"]'))
    return "\n".join(out)


def components_index(registry) -> str:
    lines = ["# Component kinds\n",
             "Every component is registered by a plugin under a kind and a name; configs, the CLI and "
             "`fastsnn.create(kind, name, **params)` find it by that name. These pages are generated from the "
             "registry of an install with every FastSNN package and the example plugin, so they show what "
             "`fastsnn list` and `fastsnn info` show.\n",
             "| kind | components | declared by | description |", "| --- | --- | --- | --- |"]
    for name, kind in registry.kinds.items():
        names = ", ".join(f"`{s.name}`" for s in sorted(registry.specs(name), key=lambda s: s.name))
        lines.append(f"| [{name}]({name}.md) | {names or 'none installed'} | {kind.declared_by} | "
                     f"{cell(kind.description)} |")
    return "\n".join(lines) + "\n"


def check_plugins() -> None:
    """Every installed plugin loaded: a broken one would silently drop its components from the pages."""
    broken = [p for p in fastsnn.get_plugin_manager().plugins.values() if p.status != "ok"]
    if broken:
        raise RuntimeError("docs: plugins failed to load, their pages would be wrong: "
                           + "; ".join(f"{p.name} ({p.status}): {p.error}" for p in broken))


# ---------------------------------------------------------------------------------------------
# examples gallery


def example_title(script: Path) -> tuple[str, str]:
    """The first docstring line of an example script (its title) and the rest of the docstring."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
    if not doc:
        raise RuntimeError(f"docs: {script.name} has no docstring (its first line is the gallery title)")
    title, _, body = doc.partition("\n")
    return title.strip().rstrip("."), body.strip()


def example_page(script: Path) -> str:
    title, body = example_title(script)
    return (f"# {title}\n\n{body}\n\nRun it from the repository root: `python examples/{script.name}`\n\n"
            f"```python\n{script.read_text(encoding='utf-8')}```\n")


def examples_index(scripts: list[Path]) -> str:
    lines = ["# Examples\n",
             "Small scripts in the repository's `examples/` folder. Each runs in seconds on a CPU "
             "(`python examples/NAME.py`), and the test suite runs every one, so they stay true.\n"]
    lines += [f"- [{example_title(s)[0]}]({s.stem}.md) — `examples/{s.name}`" for s in scripts]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------


def navigation(kinds: list[str], scripts: list[Path], repo: Path = REPO, docs: Path = DOCS) -> str:
    """The literate-nav ``SUMMARY.md``: hand-written pages, then generated ones that exist."""
    nav = ["* [Home](index.md)", "* [Getting started](getting-started.md)", "* [The pipeline](pipeline.md)",
           "* [SpikeScope](spikescope.md)", "* [Components](components/index.md)"]
    nav += [f"    * [{name}](components/{name}.md)" for name in kinds]
    nav.append("* [Writing a plugin](plugins.md)")
    packages = [f"    * [{dist}]({page})" for source, (page, dist) in PACKAGE_PAGES.items()
                if (repo / source).is_file()]
    nav += ["* Packages", *packages] if packages else []
    if (docs / "snn-format.md").is_file():
        nav.append("* [The .snn format](snn-format.md)")
    nav.append("* [Examples](examples/index.md)")
    nav += [f"    * [{example_title(s)[0]}](examples/{s.stem}.md)" for s in scripts]
    nav += [f"* [{title}]({COPIED_PAGES[source]})" for source, title in
            (("BENCHMARKS.md", "Benchmarks"), ("CHANGELOG.md", "Changelog")) if (repo / source).is_file()]
    return "\n".join(nav) + "\n"


def main() -> None:
    import mkdocs_gen_files

    def write(page: str, text: str, edit: str | None = None) -> None:
        with mkdocs_gen_files.open(page, "w") as out:
            out.write(text)
        if edit:
            mkdocs_gen_files.set_edit_path(page, f"../{edit}")

    assets: dict[str, str] = {}
    for source, page in COPIED_PAGES.items():
        if (REPO / source).is_file():
            write(page, rewrite_links((REPO / source).read_text(encoding="utf-8"), source, page, assets), source)
    for asset, source in assets.items():
        with mkdocs_gen_files.open(asset, "wb") as out:
            out.write((REPO / source).read_bytes())

    check_plugins()
    registry = fastsnn.get_registry()
    for name, kind in registry.kinds.items():
        write(f"components/{name}.md", kind_page(kind, sorted(registry.specs(name), key=lambda s: s.name)))
    write("components/index.md", components_index(registry))

    scripts = sorted((REPO / "examples").glob("*.py"))
    for script in scripts:
        write(f"examples/{script.stem}.md", example_page(script), f"examples/{script.name}")
    write("examples/index.md", examples_index(scripts))
    write("SUMMARY.md", navigation(list(registry.kinds), scripts))


if __name__ in {"<run_path>", "__main__"}:  # mkdocs-gen-files runs the file with runpy.run_path
    main()
