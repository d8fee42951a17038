"""No import cycle among devtools' modules, function-local imports counted: a module
imports only modules below it, so each can be read, tested and changed from the bottom up."""

import ast
from pathlib import Path

from devtools.template import ROOT

PACKAGE = "devtools"


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in sorted((ROOT / PACKAGE).rglob("*.py"))
    }


def _imported(node: ast.Import | ast.ImportFrom, module: str, known: set[str]) -> set[str]:
    """The package's modules an import statement of `module` names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the package `module` is in
            package = module.split(".")[: -node.level]
            base = ".".join([*package, *([base] if base else [])])
        # `from package import module` names that module, `from module import name` the module.
        names = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
            for alias in node.names
        ]
    found = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each devtools module, and the devtools modules it imports anywhere in its code."""
    modules = _modules()
    known = set(modules)
    return {
        module: {
            imported
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for imported in _imported(node, module, known)
        }
        for module, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan's algorithm),
    as the list of modules it passes through, back to the first."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.get(module, ())):
            if imported not in index:
                visit(imported)
                lowest[module] = min(lowest[module], lowest[imported])
            elif imported in stack:
                lowest[module] = min(lowest[module], index[imported])
        if lowest[module] == index[module]:
            group: list[str] = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1 or module in graph.get(module, ()):
                found.append(_cycle_in(graph, set(group)))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A path from the group's first module back to it, within the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        module = frontier.pop(0)
        for imported in sorted(graph[module] & group):
            if imported == start:
                return [*paths[module], start]
            if imported not in paths:
                paths[imported] = [*paths[module], imported]
                frontier.append(imported)
    raise AssertionError(f"no cycle in {sorted(group)}")


def test_devtools_modules_import_no_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)


def test_the_graph_sees_every_kind_of_import_and_the_check_finds_a_cycle():
    graph = import_graph()
    assert "devtools.template" in graph["devtools.provision"]  # at the top
    assert "devtools.provision" in graph["devtools.handlers"]  # inside a function
    assert "devtools.moto_sqs" in graph["devtools.local_stack"]  # from devtools import moto_sqs
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"a"}}) == [["a", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
