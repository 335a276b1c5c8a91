"""No import circles: no module imports, directly or through others, a module that imports it
back. The graph is grimp's (import-linter's), so imports inside functions and under
``TYPE_CHECKING`` count: a lazy import is still a dependency, only a later one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grimp

PACKAGES = ("domain", "adapters", "infra", "ingest", "workers")


def _graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)
    return {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}


def strongly_connected(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or one that imports
    itself (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in edges.get(node, ()):
                        found.append(sorted(component))
    return found


def a_cycle(edges: Mapping[str, Iterable[str]], component: list[str]) -> list[str]:
    """One circle through the first module of ``component``: ``[a, b, ..., a]``."""
    members = set(component)
    start = component[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(edges.get(node, ())):
                if successor == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if successor in members and successor not in came_from:
                    came_from[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{component} is not strongly connected")


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    edges = _graph()
    circles = [" -> ".join(a_cycle(edges, c)) for c in strongly_connected(edges)]
    assert circles == [], "import circles:\n" + "\n".join(circles)


def test_the_graph_holds_every_package_and_lazy_imports() -> None:
    edges = _graph()
    assert {module.split(".")[0] for module in edges} == set(PACKAGES)
    # The factory imports a provider's adapter inside the function that makes it.
    lazy = edges["adapters.calendar.factory"]
    assert any(module.startswith("adapters.calendar.google") for module in lazy)
    assert any(module.startswith("adapters.calendar.graph") for module in lazy)


def test_the_search_finds_circles_of_any_length() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"g"}}
    assert strongly_connected(edges) == [["a", "b", "c"], ["e"]]
    assert a_cycle(edges, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert a_cycle(edges, ["e"]) == ["e", "e"]
