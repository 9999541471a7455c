"""Dependencies point one way: web -> workers -> trackmaster, the core's packages (and
top-level modules) form no cycle, and the pure checks never import the ORM. Lazy imports
inside functions count too: they are dependencies all the same."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

from tests.support.schedule import ROOT

TOP = ("trackmaster", "web", "workers")


def imports_of(path: Path, tops: tuple[str, ...] = TOP) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in tops}


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


def wrong_direction(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in graph.items()
        for name in names
        if (module.startswith("trackmaster") and name.split(".")[0] in ("web", "workers"))
        or (module.startswith("workers") and name.split(".")[0] == "web")
    ]


def test_the_core_imports_neither_door_and_workers_never_import_web() -> None:
    assert wrong_direction(import_graph()) == []


def unit_edges(graph: dict[str, set[str]], units: set[str]) -> dict[tuple[str, str], str]:
    """(importing unit, imported unit) -> one import that makes the edge, for the core."""
    why: dict[tuple[str, str], str] = {}
    for module, names in graph.items():
        if not module.startswith("trackmaster"):
            continue
        for name in names:
            source, target = unit(module), unit(name)
            # `from trackmaster import x` names a unit only when x is one.
            if target == "trackmaster" or target not in units or source == target:
                continue
            why.setdefault((source, target), f"{module} -> {name}")
    return why


def cycles_in(why: dict[tuple[str, str], str], units: set[str]) -> list[str]:
    """Every cycle among the units (two packages importing each other among them), explained."""
    edges: dict[str, set[str]] = defaultdict(set)
    for source, target in why:
        edges[source].add(target)
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
    return [
        " -> ".join(cycle) + ": " + "; ".join(why[pair] for pair in itertools.pairwise(cycle))
        for cycle in cycles
    ]


def test_the_core_packages_form_no_cycle() -> None:
    units = core_units()
    assert cycles_in(unit_edges(import_graph(), units), units) == []


def test_a_cycle_between_two_core_packages_is_found() -> None:
    # The check above must be able to fail: plan importing sessions while sessions
    # imports plan (issue 11 found exactly that) is a cycle it names.
    graph = {
        **import_graph(),
        "trackmaster.plan.commands": {"trackmaster.sessions.demo"},
        "trackmaster.sessions.service": {"trackmaster.plan.changes"},
    }
    units = core_units()
    found = cycles_in(unit_edges(graph, units), units)
    assert any(
        "trackmaster.plan -> trackmaster.sessions -> trackmaster.plan" in cycle
        or "trackmaster.sessions -> trackmaster.plan -> trackmaster.sessions" in cycle
        for cycle in found
    ), found


def test_the_pure_checks_and_event_formats_do_not_import_the_orm() -> None:
    # A verdict is made in trackmaster/checks from plain values; its enums live in
    # trackmaster/kinds.py, so judging never needs the database layer.
    wrong = [
        f"{module} imports {name}"
        for module, names in import_graph().items()
        if module.startswith(("trackmaster.checks", "trackmaster.sources", "trackmaster.kinds"))
        for name in names
        if name.startswith(("trackmaster.models", "trackmaster.db"))
    ] + [
        f"{module_name(path)} imports tortoise"
        for top in ("checks", "sources")
        for path in sorted((ROOT / "trackmaster" / top).rglob("*.py"))
        if "tortoise" in {n.split(".")[0] for n in imports_of(path, tops=("tortoise",))}
    ]
    assert wrong == []


def test_a_door_import_in_the_core_is_found() -> None:
    # The direction check must be able to fail too.
    graph = {"trackmaster.plan.sync": {"web.params"}, "workers.pool": {"web.errors"}}
    assert len(wrong_direction(graph)) == 2


def test_the_graph_sees_real_imports() -> None:
    # The checks above would pass on an empty graph: make sure it holds what is there.
    graph = import_graph()
    assert "trackmaster.settings" in graph["web.app"] or any(
        name.startswith("trackmaster.settings") for name in graph["web.app"]
    )
    assert any(name.startswith("trackmaster.sessions") for name in graph["trackmaster.runtime"])
