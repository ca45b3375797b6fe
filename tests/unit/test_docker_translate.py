"""Pure translation of Docker list/inspect payloads to model types (no engine contacted)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from healer.adapters.docker.engine import (
    ListEntry,
    group_services,
    view_from_list_entry,
)
from healer.adapters.docker.state import Fixed, state_from_inspect, state_from_list
from healer.core.model import ContainerId, ContainerView, HealthStatus, ServiceId
from healer.core.repair.conditions import container_status, is_good


def entry(
    status: str = "Up 5 seconds",
    state: str = "running",
    service: str = "web",
    number: str | None = "1",
    cid: str = "a" * 64,
    **extra_labels: str,
) -> ListEntry:
    labels = {
        "com.docker.compose.project": "shop",
        "com.docker.compose.service": service,
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.config-hash": "abc",
        **extra_labels,
    }
    if number is not None:
        labels["com.docker.compose.container-number"] = number
    return {
        "Id": cid,
        "Names": [f"/shop-{service}-{number or 1}"],
        "Image": "busybox:1.36",
        "State": state,
        "Status": status,
        "Labels": labels,
    }  # type: ignore[typeddict-unknown-key]


def view(e: ListEntry) -> ContainerView:
    v = view_from_list_entry(e)
    assert v is not None
    return v


@pytest.mark.parametrize(
    ("status", "state", "health", "exit_code"),
    [
        ("Up 5 seconds (unhealthy)", "running", "unhealthy", None),
        ("Up 3 hours (healthy)", "running", "healthy", None),
        ("Up 2 minutes (health: starting)", "running", "starting", None),
        ("Up About a minute", "running", None, None),
        ("Up 7 minutes (Paused)", "paused", None, None),
        ("Exited (137) 3 seconds ago", "exited", None, 137),
        ("Exited (0) 2 hours ago", "exited", None, 0),
        ("Exited (-1) 1 second ago", "exited", None, -1),
        ("Restarting (1) 2 seconds ago", "restarting", None, None),
        ("Created", "created", None, None),
        ("Dead", "dead", None, None),
    ],
)
def test_status_strings(status: str, state: str, health: str | None, exit_code: int | None) -> None:
    v = view(entry(status, state))
    assert (v.state, v.health, v.exit_code) == (state, health, exit_code)


def test_a_healthy_container_counts_as_good() -> None:
    """A passing healthcheck must not read as `starting`: is_good gates healthy_since, which
    ends episodes and lifts quarantines."""
    v = view(entry("Up 3 hours (healthy)"))
    assert container_status(v) == HealthStatus.HEALTHY
    assert is_good(v)


def test_identity_fields() -> None:
    v = view(entry(number="2", cid="b" * 64))
    assert v.id == "b" * 64
    assert v.name == "shop-web-2"  # the API's leading slash is dropped
    assert (v.project, v.service, v.number) == ("shop", "web", 2)
    assert v.service_id == ServiceId("shop/web")
    assert v.labels["com.docker.compose.config-hash"] == "abc"


def test_labels_are_copied_not_shared() -> None:
    e = entry()
    v = view(e)
    e["Labels"]["auto_repair"] = "false"
    assert "auto_repair" not in v.labels


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {"com.docker.compose.project": "shop"},
        {"com.docker.compose.service": "web"},
        {"com.docker.compose.project": "", "com.docker.compose.service": "web"},
    ],
)
def test_containers_outside_compose_are_excluded(labels: dict[str, str]) -> None:
    e = entry()
    e["Labels"] = labels
    assert view_from_list_entry(e) is None


def test_missing_labels_key_is_excluded() -> None:
    e = entry()
    del e["Labels"]
    assert view_from_list_entry(e) is None
    e["Labels"] = None  # type: ignore[typeddict-item]
    assert view_from_list_entry(e) is None


def test_oneoff_run_containers_are_excluded() -> None:
    assert view_from_list_entry(entry(**{"com.docker.compose.oneoff": "True"})) is None


def test_missing_oneoff_label_counts_as_a_service_container() -> None:
    e = entry()
    del e["Labels"]["com.docker.compose.oneoff"]
    assert view_from_list_entry(e) is not None


@pytest.mark.parametrize(("number", "parsed"), [(None, 1), ("x", 1), ("3", 3)])
def test_container_number(number: str | None, parsed: int) -> None:
    assert view(entry(number=number)).number == parsed


def test_missing_names_status_and_state_have_fallbacks() -> None:
    e = entry()
    del e["Names"], e["Status"], e["State"]
    v = view(e)
    assert v.name == "a" * 12
    assert (v.state, v.health, v.exit_code) == ("unknown", None, None)


# --- group_services ------------------------------------------------------------------------------


def test_group_services_sorts_services_and_replicas() -> None:
    raw = [
        entry(service="web", number="3", cid="3" * 64),
        entry(service="db", number="1", cid="d" * 64),
        entry(service="web", number="1", cid="1" * 64),
        entry(service="web", number="2", cid="2" * 64, auto_repair="false"),
    ]
    grouped = group_services(view(e) for e in raw)
    assert list(grouped) == [ServiceId("shop/db"), ServiceId("shop/web")]
    web = grouped[ServiceId("shop/web")]
    assert web.sid == ServiceId("shop/web")
    assert [c.number for c in web.containers] == [1, 2, 3]
    assert [c.id[0] for c in web.containers] == ["1", "2", "3"]
    assert len(grouped[ServiceId("shop/db")].containers) == 1


def test_group_services_keeps_projects_apart() -> None:
    a = view(entry())
    b = view(entry(cid="b" * 64, **{"com.docker.compose.project": "blog"}))
    grouped = group_services([a, b])
    assert set(grouped) == {ServiceId("blog/web"), ServiceId("shop/web")}


def test_group_services_takes_the_service_labels() -> None:
    grouped = group_services([view(entry(auto_repair="false"))])
    assert grouped[ServiceId("shop/web")].labels["auto_repair"] == "false"


def test_group_services_of_nothing() -> None:
    assert group_services([]) == {}


# --- restart_count_climbing ---------------------------------------------------------------------


def inspect(policy: str | None, count: int) -> dict[str, Any]:
    host: dict[str, Any] = {} if policy is None else {"RestartPolicy": {"Name": policy}}
    return {"HostConfig": host, "RestartCount": count, "State": {"Status": "running"}}


@pytest.mark.parametrize(
    ("policy", "count", "climbing"),
    [
        ("always", 3, True),
        ("on-failure", 1, True),
        ("unless-stopped", 7, True),
        ("always", 0, False),
        ("no", 5, False),
        ("", 5, False),
        (None, 5, False),
    ],
)
def test_restart_count_climbing(policy: str | None, count: int, climbing: bool) -> None:
    assert state_from_inspect(inspect(policy, count)).restarts_climbing is climbing


def test_restart_count_climbing_on_a_sparse_inspect() -> None:
    assert state_from_inspect({}).restarts_climbing is False
    assert state_from_inspect({"HostConfig": None, "RestartCount": 2}).restarts_climbing is False


def test_a_running_list_entry_reads_as_the_inspect_a_repair_needs() -> None:
    view = ContainerView(
        ContainerId("c1"), "shop-web-1", "shop", "web", 1, "running", "unhealthy", None
    )
    info = state_from_list(view, Fixed(stop_timeout=30, hostname="web1"))
    assert (info.status, info.running, info.restarting, info.health) == (
        "running",
        True,
        False,
        "unhealthy",
    )
    assert info.stop_timeout == 30 and info.name == "shop-web-1" and info.hostname == "web1"
    assert (info.project, info.service, info.number) == ("shop", "web", 1)
    # What only an inspect says is unknown, not guessed: a recreate inspects the container.
    unknown = (
        info.oom_killed,
        info.health_log,
        info.started_at,
        info.finished_at,
        info.restart_count,
        info.restart_policy,
        info.fixed_host_ports,
        info.static_ip_networks,
    )
    assert unknown == (None,) * 8
    assert not info.restarts_climbing and info.failing_outputs() == []
    no_check = replace(view, health=None)
    assert state_from_list(no_check, Fixed(None)).health is None
