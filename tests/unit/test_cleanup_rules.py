"""The disk repair's safety rules, purely: which containers may go, ages, scopes, sizes."""

from __future__ import annotations

from typing import Any

import pytest

from healer.adapters.docker.cleanup import listed_removable
from healer.adapters.docker.state import Fixed, state_from_inspect, state_from_list
from healer.core.cleanup import (
    CleanupPlan,
    ContainerItem,
    ImageItem,
    LogItem,
    container_age,
    human,
    is_removable_container,
    matches_scope,
)
from healer.core.container_state import ContainerState
from healer.core.model import ContainerId, ContainerView

COMPOSE = {"com.docker.compose.project": "shop", "com.docker.compose.service": "db"}


def listed(state: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A container as the list API shows it."""
    return {"Id": "x", "State": state, "Labels": labels or {}}


def inspect(status: str, labels: dict[str, str] | None = None, **state: Any) -> dict[str, Any]:
    """A container as inspect shows it."""
    return {"State": {"Status": status, **state}, "Config": {"Labels": labels or {}}}


def inspected(status: str, labels: dict[str, str] | None = None, **state: Any) -> ContainerState:
    return state_from_inspect(inspect(status, labels, **state))


@pytest.mark.parametrize("state", ["exited", "created", "dead"])
def test_stopped_loose_containers_may_go(state: str) -> None:
    assert listed_removable(listed(state))
    assert is_removable_container(inspected(state, {"team": "ci"}))


@pytest.mark.parametrize("state", ["running", "restarting", "paused", "removing", "", "weird"])
def test_containers_that_are_not_stopped_stay(state: str) -> None:
    assert not listed_removable(listed(state))
    assert not is_removable_container(inspected(state))


@pytest.mark.parametrize("state", ["exited", "created", "dead"])
def test_compose_containers_stay_whatever_their_state(state: str) -> None:
    assert not listed_removable(listed(state, COMPOSE))
    assert not is_removable_container(inspected(state, {"com.docker.compose.project": "x"}))


def test_inspect_flags_overrule_a_stale_status() -> None:
    assert not is_removable_container(inspected("exited", Running=True))
    assert not is_removable_container(inspected("exited", Restarting=True))
    assert not is_removable_container(state_from_inspect({}))
    assert not listed_removable({})


def test_age_counts_from_the_later_of_created_and_finished() -> None:
    created = inspect("created", FinishedAt="0001-01-01T00:00:00Z")
    created["Created"] = "2024-05-01T12:00:00.123456789Z"
    age = container_age(state_from_inspect(created), 1714564800.0 + 100)
    assert age == pytest.approx(100 - 0.123456789)
    exited = inspect("exited", FinishedAt="2024-05-01T13:00:00Z")
    exited["Created"] = "2024-05-01T12:00:00Z"
    assert container_age(state_from_inspect(exited), 1714568400.0 + 5) == pytest.approx(5)
    view = ContainerView(ContainerId("x"), "x", "-", "x", 1, "created", None, None, created=1000)
    assert container_age(state_from_list(view, Fixed(None)), 1500.0) == 500.0


@pytest.mark.parametrize(
    ("scope", "labels", "inside"),
    [
        (None, {}, True),
        ("team", {"team": "ci"}, True),
        ("team=ci", {"team": "ci"}, True),
        ("team=ci", {"team": "web"}, False),
        ("team", {}, False),
        ("team=", {"team": ""}, True),
    ],
)
def test_scope_is_a_docker_style_label_filter(
    scope: str | None, labels: dict[str, str], inside: bool
) -> None:
    assert matches_scope(labels, scope) is inside


def test_plan_lists_items_for_humans_and_estimates_bytes() -> None:
    plan = CleanupPlan(
        images=(ImageItem("sha256:" + "a" * 64, 3 * 2**20),),
        containers=(ContainerItem("b" * 64, "old-job", "exited", 2048),),
        logs=(LogItem("/var/log/app/x.log", "/var/log/app", 100, 0.0),),
        build_cache_bytes=2**30,
    )
    assert plan.items() == [
        "container old-job (bbbbbbbbbbbb, exited, 2.0 KiB)",
        "dangling image aaaaaaaaaaaa (3.0 MiB)",
        "build cache (1.0 GiB)",
        "log file /var/log/app/x.log (100 B)",
    ]
    assert plan.estimated_bytes == 3 * 2**20 + 2048 + 100 + 2**30
    assert "build cache" not in " ".join(CleanupPlan(prune_build_cache=False).items())


def test_human_sizes() -> None:
    assert [human(n) for n in (0, 1023, 1024, 5 * 2**30, 3 * 2**40)] == [
        "0 B", "1023 B", "1.0 KiB", "5.0 GiB", "3072.0 GiB",
    ]  # fmt: skip
