"""Dependencies point one way: web -> workers -> trackmaster, and the core's packages form
no cycle. Lazy imports inside functions count too: they are dependencies all the same."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

from tests.support.schedule import ROOT

TOP = ("trackmaster", "web", "workers")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in TOP}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def unit(module: str) -> str:
    """The core's units are its packages and top-level modules: trackmaster.plan, .settings."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "trackmaster" and len(parts) > 1 else parts[0]


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for top in TOP:
        for path in sorted((ROOT / top).rglob("*.py")):
            graph[module_name(path)] = imports_of(path)
    return graph


def core_units() -> set[str]:
    return {unit(module_name(p)) for p in (ROOT / "trackmaster").rglob("*.py")} - {
        "trackmaster.__init__",
        "trackmaster.__main__",
    }


def test_the_core_imports_neither_door_and_workers_never_import_web() -> None:
    wrong = [
        f"{module} imports {name}"
        for module, names in import_graph().items()
        for name in names
        if (module.startswith("trackmaster") and name.split(".")[0] in ("web", "workers"))
        or (module.startswith("workers") and name.split(".")[0] == "web")
    ]
    assert wrong == []


def test_the_core_packages_form_no_cycle() -> None:
    units = core_units()
    edges: dict[str, set[str]] = defaultdict(set)
    why: dict[tuple[str, str], str] = {}
    for module, names in import_graph().items():
        if not module.startswith("trackmaster"):
            continue
        for name in names:
            source, target = unit(module), unit(name)
            # `from trackmaster import x` names a unit only when x is one.
            if target == "trackmaster" or target not in units or source == target:
                continue
            edges[source].add(target)
            why.setdefault((source, target), f"{module} -> {name}")

    cycles: list[list[str]] = []

    def visit(node: str, path: list[str], on_path: set[str], done: set[str]) -> None:
        for target in sorted(edges[node]):
            if target in on_path:
                cycles.append([*path[path.index(target) :], target])
            elif target not in done:
                on_path.add(target)
                visit(target, [*path, target], on_path, done)
                on_path.discard(target)
        done.add(node)

    done: set[str] = set()
    for start in sorted(units):
        if start not in done:
            visit(start, [start], {start}, done)
    explained = [
        " -> ".join(cycle) + ": " + "; ".join(why[pair] for pair in itertools.pairwise(cycle))
        for cycle in cycles
    ]
    assert explained == []


def test_the_graph_sees_real_imports() -> None:
    # The checks above would pass on an empty graph: make sure it holds what is there.
    graph = import_graph()
    assert "trackmaster.settings" in graph["web.app"] or any(
        name.startswith("trackmaster.settings") for name in graph["web.app"]
    )
    assert any(name.startswith("trackmaster.plan") for name in graph["trackmaster.sessions.demo"])
