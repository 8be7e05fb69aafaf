"""The shape of the house: no import circles, and dependencies that flow one way.

Every import counts — module level and function level alike — except those under
``if TYPE_CHECKING:``: a circle held together by a function-level import is still a circle.
A package's ``__init__`` re-exports are not edges of their submodules (importing
``fastsnn.params`` runs ``fastsnn/__init__`` first, but that is Python's loading order, not a
dependency of ``params``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "fastsnn": ROOT / "fastsnn-core/src/fastsnn",
    "fastsnn_neurons": ROOT / "fastsnn-neurons/src/fastsnn_neurons",
    "fastsnn_attention": ROOT / "fastsnn-attention/src/fastsnn_attention",
    "fastsnn_convert": ROOT / "fastsnn-convert/src/fastsnn_convert",
    "fastsnn_example": ROOT / "plugins-example/src/fastsnn_example",
}
#: which first-party packages each package may import (core imports none of the plugins)
ALLOWED = {
    "fastsnn": {"fastsnn"},
    "fastsnn_neurons": {"fastsnn", "fastsnn_neurons"},
    "fastsnn_attention": {"fastsnn", "fastsnn_attention"},
    "fastsnn_convert": {"fastsnn", "fastsnn_convert"},
    "fastsnn_example": {"fastsnn", "fastsnn_example"},
}


def module_name(package: str, path: Path) -> str:
    parts = path.relative_to(PACKAGES[package]).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((package, *parts))


def all_modules() -> dict[str, Path]:
    return {module_name(pkg, path): path for pkg, root in PACKAGES.items() for path in sorted(root.rglob("*.py"))}


class _Imports(ast.NodeVisitor):
    def __init__(self, current: str, is_package: bool, modules: set[str]) -> None:
        self.current, self.is_package, self.modules, self.found = current, is_package, modules, set()

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.current.split(".")
            if not self.is_package:
                anchor = anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:  # ``from pkg import submodule`` depends on the submodule, not on pkg
            sub = f"{base}.{alias.name}"
            self.found.add(sub if sub in self.modules else base)


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    graph = {}
    for name, path in modules.items():
        visitor = _Imports(name, path.name == "__init__.py", set(modules))
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        graph[name] = {m for m in visitor.found if m in modules and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_is_read_from_every_package():
    graph = import_graph()
    assert {"fastsnn.plugins", "fastsnn_neurons.events", "fastsnn_attention.layers.swa"} <= set(graph)
    assert "fastsnn.registry" in graph["fastsnn.plugins"]


def test_no_import_circles_in_the_house():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " → ".join(cycle or [])


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_dependencies_flow_one_way(package):
    graph = import_graph()
    bad = sorted(
        f"{src} imports {dst}"
        for src, dsts in graph.items() if src.split(".")[0] == package
        for dst in dsts if dst.split(".")[0] not in ALLOWED[package]
    )
    assert not bad, f"{package} may import only {sorted(ALLOWED[package])}: " + "; ".join(bad)


def test_a_cycle_is_found_when_there_is_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
