"""Host names, service ids across hosts, liveness and alert routing: the pure rules."""

from __future__ import annotations

import pytest

from healer.core.alerts import Alert, decide
from healer.core.hosts import (
    AmbiguousService,
    HostState,
    ServiceRef,
    UnknownService,
    display_ids,
    down_after,
    host_of_alert,
    host_states,
    in_scope,
    resolve_service,
    validate_host,
)
from healer.core.model import HostId, ServiceId
from healer.core.queues import host_queue, host_queues, split_queue

A, B = HostId("node-a"), HostId("node-b")
CATALOGUE = {
    A: [ServiceId("shop/web"), ServiceId("shop/db"), ServiceId("blog/web")],
    B: [ServiceId("shop/web"), ServiceId("shop/cache")],
}


def ref(host: str, sid: str) -> ServiceRef:
    return ServiceRef(HostId(host), ServiceId(sid))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("node-a/shop/web", ref("node-a", "shop/web")),
        ("node-b/shop/web", ref("node-b", "shop/web")),
        ("shop/db", ref("node-a", "shop/db")),
        ("cache", ref("node-b", "shop/cache")),
        ("blog/web", ref("node-a", "blog/web")),
        ("/shop/cache/", ref("node-b", "shop/cache")),
    ],
)
def test_unambiguous_ids_resolve_to_their_host(name: str, expected: ServiceRef) -> None:
    assert resolve_service(name, CATALOGUE) == expected


@pytest.mark.parametrize(
    ("name", "candidates"),
    [
        ("shop/web", ("node-a/shop/web", "node-b/shop/web")),
        ("web", ("node-a/blog/web", "node-a/shop/web", "node-b/shop/web")),
    ],
)
def test_an_ambiguous_id_lists_every_candidate(name: str, candidates: tuple[str, ...]) -> None:
    with pytest.raises(AmbiguousService) as exc:
        resolve_service(name, CATALOGUE)
    assert exc.value.candidates == candidates
    for c in candidates:
        assert c in str(exc.value)


@pytest.mark.parametrize("name", ["nosuch", "shop/nosuch", "node-c/shop/web", "a/b/c/d", "a//b"])
def test_unknown_ids_are_errors(name: str) -> None:
    with pytest.raises(UnknownService):
        resolve_service(name, CATALOGUE)


def test_an_unknown_host_is_named_with_the_known_ones() -> None:
    with pytest.raises(UnknownService, match="node-a, node-b"):
        resolve_service("node-c/shop/web", CATALOGUE)


def test_one_host_keeps_every_single_host_id() -> None:
    one = {A: [ServiceId("shop/web"), ServiceId("blog/api")]}
    assert resolve_service("web", one) == ref("node-a", "shop/web")
    assert resolve_service("shop/web", one) == ref("node-a", "shop/web")
    ids = display_ids([ref("node-a", "shop/web"), ref("node-a", "blog/api")])
    assert sorted(ids.values()) == ["blog/api", "shop/web"]


def test_display_ids_qualify_only_what_two_hosts_share() -> None:
    refs = [ServiceRef(h, s) for h, sids in CATALOGUE.items() for s in sids]
    ids = display_ids(refs)
    assert ids[ref("node-a", "shop/web")] == "node-a/shop/web"
    assert ids[ref("node-b", "shop/web")] == "node-b/shop/web"
    assert ids[ref("node-b", "shop/cache")] == "shop/cache"
    # Every display id resolves back to its own service.
    for r, name in ids.items():
        assert resolve_service(name, CATALOGUE) == r


@pytest.mark.parametrize("name", ["node-a", "vm", "db1.example.com", "host_2", "A"])
def test_valid_host_names(name: str) -> None:
    assert validate_host(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "a|b", "a:b", "-a", "a b", "x" * 64])
def test_invalid_host_names_say_what_is_allowed(name: str) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        validate_host(name)


def test_liveness_follows_the_heartbeat_age() -> None:
    limit = down_after(10)
    assert 20 < limit <= 30  # two missed heartbeats, never more than three
    states = host_states({A: 1000.0, B: 1000.0 - limit - 0.1}, now=1000.0, down_after=limit)
    assert states[A].state == HostState.UP and states[A].age == 0
    assert states[B].state == HostState.DOWN and states[B].state.value == "host_down"
    edge = host_states({A: 1000.0 - limit}, now=1000.0, down_after=limit)
    assert edge[A].state == HostState.UP


def test_down_after_scales_with_short_test_intervals() -> None:
    assert down_after(1) == 3.0
    assert down_after(0.5) == 1.5


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"host": "node-b", "instance": "node-a:9100"}, "node-b"),
        ({"instance": "node-b:9100"}, "node-b"),
        ({"instance": "node-b"}, "node-b"),
        ({"instance": "healer-api:8000"}, None),
        ({"instance": "[::1]:8000"}, None),
        ({"host": "*", "instance": "node-a:9100"}, "node-a"),  # a shared queue's series
        ({}, None),
    ],
)
def test_alert_host_from_host_or_instance(labels: dict[str, str], expected: str | None) -> None:
    assert host_of_alert(labels, [A, B]) == expected


def test_an_alert_decision_carries_its_host_labels() -> None:
    alert = Alert(
        status="firing",
        labels={
            "alertname": "ContainerDown",
            "service": "web",
            "auto_repair": "true",
            "host": "node-b",
        },
        startsAt="2026-01-01T00:00:00Z",
    )
    d = decide(alert)
    assert d.act and host_of_alert(dict(d.host_labels), [A, B]) == B


def test_host_queues_are_named_after_the_host() -> None:
    assert host_queue("healer.repair", B) == "healer.repair@node-b"
    assert host_queues(A) == ("healer.probe@node-a", "healer.repair@node-a", "healer.scale@node-a")
    assert split_queue("healer.repair@node-b") == ("healer.repair", "node-b")
    assert split_queue("healer.repair") == ("healer.repair", "")


def test_a_beat_scope_is_a_list_of_host_patterns() -> None:
    assert in_scope(A, []) and in_scope(A, ["node-*"]) and in_scope(B, ["x", "node-b"])
    assert not in_scope(A, ["node-b", "rack*"])
