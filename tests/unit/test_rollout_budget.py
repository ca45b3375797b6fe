"""Availability-aware repairs, decided purely: the budget, the waves, start-first."""

from __future__ import annotations

import pytest

from healer.adapters.docker.state import state_from_inspect
from healer.core.container_state import ContainerState, Healthcheck
from healer.core.labels import parse_service_labels
from healer.core.model import ContainerId, ContainerView
from healer.core.rollout.budget import (
    MaxUnavailable,
    availability_timeout,
    next_wave,
    order,
    parse_max_unavailable,
)
from healer.core.rollout.start_first import Order, choose


def _c(n: int, state: str = "running", health: str | None = "healthy") -> ContainerView:
    return ContainerView(ContainerId(f"c{n}"), f"p-web-{n}", "p", "web", n, state, health, 0)


def test_max_unavailable_is_a_count_or_a_percentage_and_never_zero() -> None:
    assert parse_max_unavailable("2").allowed(10) == 2
    assert parse_max_unavailable("25%").allowed(10) == 2  # rounded down
    assert parse_max_unavailable("10%").allowed(3) == 1  # never 0: it could repair nothing
    for bad in ("0", "-1", "x", "150%", "0%"):
        with pytest.raises(ValueError, match=r"healer\.repair\.max_unavailable"):
            parse_max_unavailable(bad)


def test_unavailable_replicas_go_first_and_spend_the_budget_first() -> None:
    replicas = [_c(1), _c(2, health="unhealthy"), _c(3)]
    pending = order([r.id for r in replicas], replicas)
    assert pending == ["c2", "c1", "c3"]
    wave = next_wave(pending, replicas, MaxUnavailable(1))
    assert wave.ids == ("c2",), "the unhealthy one spends the budget of 1"
    # Once it is healthy again, one available replica at a time.
    healed = [_c(1), _c(2), _c(3)]
    assert next_wave([ContainerId("c1"), ContainerId("c3")], healed, MaxUnavailable(1)).ids == (
        "c1",
    )
    assert next_wave([ContainerId("c1"), ContainerId("c3")], healed, MaxUnavailable(2)).ids == (
        "c1",
        "c3",
    )


def test_a_spent_budget_touches_no_available_replica() -> None:
    replicas = [_c(1, state="exited", health=None), _c(2, health="starting"), _c(3)]
    wave = next_wave([ContainerId("c3")], replicas, MaxUnavailable(1))
    assert wave.ids == () and wave.down == 2


def test_the_time_to_become_available_follows_the_healthcheck() -> None:
    assert availability_timeout(None, 15) == 15
    assert availability_timeout(Healthcheck(interval=1, timeout=1, retries=2), 15) == 15 + 3 * 2
    # 0 is Docker's default: 30 s each, 3 retries
    assert availability_timeout(Healthcheck(), 0) == 4 * 60


def test_rollout_labels_parse_and_bad_values_are_problems() -> None:
    labels = parse_service_labels(
        {"healer.repair.max_unavailable": "50%", "healer.recreate.order": "start-first"}
    )
    assert labels.problems == ()
    assert str(labels.rollout.max_unavailable) == "50%"
    assert labels.rollout.order == Order.START_FIRST
    bad = parse_service_labels({"healer.repair.max_unavailable": "0", "healer.recreate.order": "x"})
    assert len(bad.problems) == 2 and bad.rollout.order == Order.STOP_FIRST


def _info(**extra: object) -> ContainerState:
    labels = {"com.docker.compose.project": "p", "com.docker.compose.service": "web"}
    info = {"Name": "/p-web-1", "Config": {"Labels": labels}, "HostConfig": {}, **extra}
    return state_from_inspect(info)


def test_start_first_goes_where_it_can_and_says_why_where_it_cannot() -> None:
    assert choose(Order.START_FIRST, _info()).order == Order.START_FIRST
    assert choose(Order.STOP_FIRST, _info()).why == ""
    ports = {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}
    fixed = choose(Order.START_FIRST, _info(HostConfig=ports))
    assert fixed.order == Order.STOP_FIRST and "8080" in fixed.why
    named = choose(Order.START_FIRST, _info(Name="/my-web"))
    assert named.order == Order.STOP_FIRST and "container_name" in named.why
