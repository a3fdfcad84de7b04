"""The house layout: the package's import graph has no circle, the runtime path imports no host tooling."""

from __future__ import annotations

import ast
from pathlib import Path

import pynq_depth

PACKAGE = Path(pynq_depth.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> package modules it imports, at module level or inside functions (a lazy import is still an edge)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [f"{target}.{alias.name}" for alias in node.names] + [target]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            for candidate in candidates:
                while candidate not in modules and "." in candidate:
                    candidate = candidate.rsplit(".", 1)[0]
                if candidate in modules and candidate != name:
                    graph[name].add(candidate)
                    break
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
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


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_in_the_package():
    graph = import_graph()
    assert "pynq_depth.backends.fpga.runner" in graph["pynq_depth.backends.fpga"]  # lazy imports are edges
    assert find_cycle(graph) is None


def test_every_backend_lives_in_backends():
    graph = import_graph()
    assert {m for m in graph if m.startswith("pynq_depth.backends.")} >= {
        "pynq_depth.backends.base", "pynq_depth.backends.kernel", "pynq_depth.backends.emulator",
        "pynq_depth.backends.csim", "pynq_depth.backends.float", "pynq_depth.backends.fpga.dma",
        "pynq_depth.backends.fpga.ip", "pynq_depth.backends.fpga.overlay", "pynq_depth.backends.fpga.runner",
        "pynq_depth.backends.fpga.sim"}
