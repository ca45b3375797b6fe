"""Dependency graph: label parsing, repair order, blocking and restart of dependents."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healer.core.compose_labels import DEPENDS_ON_LABEL
from healer.core.deps import (
    Dependency,
    DependencyGraph,
    parse_depends_on,
    parse_network_mode,
)
from healer.core.model import ServiceId

PROPS = settings(max_examples=60, deadline=None)
DB_ID = "f" * 64


def dep(on: str, condition: str = "service_started", restart: bool = False) -> Dependency:
    return Dependency(ServiceId("p/x"), ServiceId(f"p/{on}"), condition, restart)


def graph(deps: dict[str, str], **kwargs: dict[str, str]) -> DependencyGraph:
    labels = {f"p/{name}": {DEPENDS_ON_LABEL: value} for name, value in deps.items()}
    return DependencyGraph.from_labels(labels, **kwargs)


@pytest.fixture
def shop() -> DependencyGraph:
    return graph(
        {
            "web": "api:service_healthy:true,cache:service_started:false",
            "api": "db:service_healthy:true,migrate:service_completed_successfully:false",
            "migrate": "db:service_healthy:false",
            "db": "",
            "cache": "",
            "metrics": "",
        },
        network_mode={"p/sidecar": f"container:{DB_ID}", "p/proxy": "service:web"},
        containers={DB_ID[:12]: "p/db", "/p-db-1": "p/db"},
    )


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("db:service_healthy:true", [dep("db", "service_healthy", True)]),
        ("db:service_started", [dep("db")]),
        ("db", [dep("db")]),
        (
            " db , cache:service_healthy:False ,",
            [
                dep("db"),
                dep("cache", "service_healthy", False),
            ],
        ),
        ("", []),
        (
            "job:service_completed_successfully:false",
            [dep("job", "service_completed_successfully")],
        ),
    ],
)
def test_parse_depends_on_formats_of_every_compose_release(
    value: str, expected: list[Dependency]
) -> None:
    found, problems = parse_depends_on("p/x", value)
    assert list(found) == expected
    assert problems == ()


@pytest.mark.parametrize(
    ("value", "kept", "problem"),
    [
        ("db:service_healthy:maybe", ["p/db"], "restart flag 'maybe' is not true/false"),
        ("db:sometimes:true", ["p/db"], "unknown condition 'sometimes'"),
        (":service_started:true", [], "'' is not a service name"),
        ("bad name,db", ["p/db"], "'bad name' is not a service name"),
        ("x:service_started:false", [], "cannot depend on itself"),
        ("db:service_started:true:later", ["p/db"], "unexpected extra fields"),
        ("db,db:service_healthy", ["p/db"], "lists p/db twice"),
    ],
)
def test_malformed_entries_are_reported_not_raised(
    value: str, kept: list[str], problem: str
) -> None:
    found, problems = parse_depends_on("p/x", value)
    assert [d.on for d in found] == kept
    assert len(problems) == 1
    assert problems[0].startswith("p/x: ")
    assert problem in problems[0]


def test_graph_collects_problems_with_service_and_value() -> None:
    g = graph({"web": "db:service_healthy:yes please", "db": ""})
    assert g.dependencies("p/web") == ("p/db",)
    assert g.problems == (
        "p/web: depends_on entry 'db:service_healthy:yes please': "
        "restart flag 'yes please' is not true/false; using false",
    )


@PROPS
@given(st.text(max_size=40))
def test_any_label_text_parses_without_raising(value: str) -> None:
    found, problems = parse_depends_on("p/x", value)
    assert all(d.service == "p/x" and d.on.startswith("p/") for d in found)
    assert all(p.startswith("p/x: ") for p in problems)
    g = graph({"x": value}, network_mode={"p/x": value})
    assert g.repair_order(g.services) is not None


@pytest.mark.parametrize(
    ("mode", "owner", "problem"),
    [
        ("service:db", "p/db", None),
        (f"container:{DB_ID}", "p/db", None),  # full id, map holds the short one
        (f"container:{DB_ID[:12]}", "p/db", None),
        ("container:p-db-1", "p/db", None),  # by name, with or without the leading slash
        ("bridge", None, None),
        ("host", None, None),
        ("none", None, None),
        ("p_default", None, None),
        ("container:0123456789abcdef", None, "no known container"),
        ("container:", None, "no known container"),
        ("service:", None, "is not a service name"),
        ("service:x", None, None),  # its own namespace: nothing to share
    ],
)
def test_network_mode(mode: str, owner: str | None, problem: str | None) -> None:
    containers = {DB_ID[:12]: "p/db", "/p-db-1": "p/db"}
    found, error = parse_network_mode("p/x", mode, containers)
    assert found == owner
    assert (error is None) if problem is None else (problem in (error or ""))


def test_ambiguous_container_prefix_is_not_guessed() -> None:
    containers = {"a" * 64: "p/db", "a" * 12 + "b" * 52: "p/cache"}
    assert parse_network_mode("p/x", "container:" + "a" * 12, containers)[0] is None


def test_service_without_project_prefix() -> None:
    g = DependencyGraph.from_labels({"web": {DEPENDS_ON_LABEL: "db"}})
    assert g.dependencies("web") == ("db",)


# --- queries -------------------------------------------------------------------------------


def test_direct_relations(shop: DependencyGraph) -> None:
    assert shop.dependencies("p/web") == ("p/api", "p/cache")
    assert shop.dependencies("p/sidecar") == ("p/db",)
    assert shop.dependents("p/db") == ("p/api", "p/migrate", "p/sidecar")
    assert shop.dependencies("p/unknown") == ()
    assert shop.restart_on_dependency("p/web", "p/api")
    assert not shop.restart_on_dependency("p/web", "p/cache")
    assert not shop.restart_on_dependency("p/db", "p/web")
    assert shop.shares_network_with("p/sidecar") == "p/db"
    assert shop.shares_network_with("p/web") is None
    assert shop.problems == ()
    assert shop.cycles == ()


def test_repair_order_puts_dependencies_first(shop: DependencyGraph) -> None:
    assert shop.repair_order(["p/web", "p/db", "p/api", "p/migrate", "p/proxy"]) == [
        "p/db",
        "p/migrate",
        "p/api",
        "p/web",
        "p/proxy",
    ]


def test_repair_order_respects_indirect_dependencies_and_unknown_services() -> None:
    g = graph({"a": "m", "m": "z"})  # name order is the reverse of dependency order
    assert g.repair_order(["p/a", "p/z"]) == ["p/z", "p/a"]
    assert g.repair_order(["q/new", "p/a"]) == ["p/a", "q/new"]
    assert g.repair_order([]) == []


def test_blocking_dependency_is_most_upstream_down(shop: DependencyGraph) -> None:
    assert shop.blocking_dependency("p/web", set()) is None
    assert shop.blocking_dependency("p/web", {"p/cache"}) == "p/cache"
    assert shop.blocking_dependency("p/web", {"p/api", "p/db"}) == "p/db"
    assert shop.blocking_dependency("p/proxy", {"p/migrate"}) == "p/migrate"
    assert shop.blocking_dependency("p/db", {"p/web"}) is None
    assert shop.blocking_dependency("p/unknown", {"p/db"}) is None


def test_dependents_to_restart(shop: DependencyGraph) -> None:
    assert shop.dependents_to_restart("p/db") == [("p/api", "restart"), ("p/sidecar", "recreate")]
    assert shop.dependents_to_restart("p/api") == [("p/web", "restart")]
    assert shop.dependents_to_restart("p/web") == [("p/proxy", "recreate")]
    assert shop.dependents_to_restart("p/cache") == []


def test_network_share_wins_over_restart_flag() -> None:
    g = graph({"app": "db:service_started:true", "db": ""}, network_mode={"p/app": "service:db"})
    assert g.dependents_to_restart("p/db") == [("p/app", "recreate")]


def test_cycles_are_reported_and_do_not_deadlock() -> None:
    g = graph({"a": "b", "b": "c", "c": "a", "web": "a", "x": "x"})
    assert g.cycles == (("p/a", "p/b", "p/c"),)
    assert g.repair_order(["p/web", "p/c", "p/a", "p/b"]) == ["p/a", "p/b", "p/c", "p/web"]
    assert g.blocking_dependency("p/a", {"p/b", "p/c"}) is None
    assert g.blocking_dependency("p/web", {"p/b"}) == "p/b"
    assert any("cycle among p/a, p/b, p/c" in p for p in g.problems)
    assert any("cannot depend on itself" in p for p in g.problems)


def test_graph_is_hashable_and_label_order_does_not_matter() -> None:
    one = graph({"a": "b,c", "b": "c", "c": ""})
    two = graph({"c": "", "b": "c", "a": "c,b"})
    assert one.repair_order(one.services) == two.repair_order(two.services)
    assert hash(one) is not None


# --- properties ----------------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], dict[str, set[str]]]:
    """Random DAG: node i may only depend on nodes before it; names shuffled against that."""
    size = draw(st.integers(1, 12))
    names = draw(st.permutations([f"s{i:02d}" for i in range(size)]))
    deps = {
        names[i]: {names[j] for j in draw(st.sets(st.integers(0, i - 1), max_size=3))}
        if i
        else set()
        for i in range(size)
    }
    return names, deps


def _labels(deps: dict[str, set[str]]) -> dict[str, dict[str, str]]:
    return {f"p/{s}": {DEPENDS_ON_LABEL: ",".join(sorted(d))} for s, d in deps.items()}


@PROPS
@given(dags(), st.data())
def test_repair_order_puts_every_dependency_first_in_random_dags(
    dag: tuple[list[str], dict[str, set[str]]], data: st.DataObject
) -> None:
    names, deps = dag
    g = DependencyGraph.from_labels(_labels(deps))
    subset = data.draw(st.sets(st.sampled_from(names)))
    order = g.repair_order(f"p/{s}" for s in subset)
    assert sorted(order) == sorted(f"p/{s}" for s in subset)
    position = {s: i for i, s in enumerate(order)}
    for service in order:
        for dep in g.transitive_dependencies(service):
            if dep in position:
                assert position[dep] < position[service]
    assert g.cycles == ()
    assert g.problems == ()


@PROPS
@given(st.dictionaries(st.sampled_from("abcdefg"), st.sets(st.sampled_from("abcdefg"))))
def test_arbitrary_graphs_with_cycles_never_crash(deps: dict[str, set[str]]) -> None:
    g = DependencyGraph.from_labels(_labels(deps))
    order = g.repair_order(g.services)
    assert sorted(order) == sorted(g.services)
    in_cycle = {s for cycle in g.cycles for s in cycle}
    position = {s: i for i, s in enumerate(order)}
    for edge in g.edges:
        same_cycle = any(edge.service in c and edge.on in c for c in g.cycles)
        assert same_cycle or position[edge.on] < position[edge.service]
    for cycle in g.cycles:
        assert len(cycle) > 1
        assert order[position[cycle[0]] : position[cycle[0]] + len(cycle)] == list(cycle)
        assert g.blocking_dependency(cycle[0], in_cycle - {cycle[0]}) not in cycle
    again = DependencyGraph.from_labels(dict(reversed(_labels(deps).items())))
    assert again.repair_order(again.services) == order
    assert again.cycles == g.cycles


@PROPS
@given(dags(), st.data())
def test_blocking_dependency_is_a_down_transitive_dependency(
    dag: tuple[list[str], dict[str, set[str]]], data: st.DataObject
) -> None:
    names, deps = dag
    g = DependencyGraph.from_labels(_labels(deps))
    service = f"p/{data.draw(st.sampled_from(names))}"
    down = {f"p/{s}" for s in data.draw(st.sets(st.sampled_from(names)))}
    blocker = g.blocking_dependency(service, down)
    upstream = g.transitive_dependencies(service) & down
    assert (blocker is None) == (not upstream)
    if blocker is not None:
        assert blocker in upstream
        assert not (g.transitive_dependencies(blocker) & down)  # nothing further upstream is down


def test_connected_is_the_whole_dependency_component_and_nothing_else(
    shop: DependencyGraph,
) -> None:
    component = {"p/web", "p/api", "p/cache", "p/migrate", "p/db", "p/sidecar", "p/proxy"}
    for member in component:
        assert shop.connected(member) == component, member
    assert shop.connected("p/metrics") == {"p/metrics"}
    assert shop.connected("p/unknown") == {"p/unknown"}
