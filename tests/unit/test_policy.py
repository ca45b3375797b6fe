"""Pure detection: which condition each container shows, service status, and the re-check."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healer.core.model import (
    Action,
    Condition,
    ContainerId,
    ContainerView,
    Finding,
    HealthStatus,
    ServiceId,
    ServiceView,
)
from healer.core.repair.conditions import (
    CONDITION_ACTION,
    DetectContext,
    container_status,
    container_status_rollup,
    detect,
    is_good,
    manually_stopped,
    service_status,
    still_failing,
)

SID = ServiceId("shop/web")
NOW = 50_000.0
PROPS = settings(max_examples=60, deadline=None)


def ctr(
    n: int = 1,
    state: str = "running",
    health: str | None = None,
    exit_code: int | None = None,
    service: str = "web",
) -> ContainerView:
    return ContainerView(
        id=ContainerId(f"{service}{n}".ljust(64, "0")),
        name=f"shop-{service}-{n}",
        project="shop",
        service=service,
        number=n,
        state=state,
        health=health,
        exit_code=exit_code,
    )


def view(*containers: ContainerView) -> ServiceView:
    return ServiceView(SID, tuple(containers))


def ctx(**kw: object) -> DetectContext:
    base: dict[str, object] = {"now": NOW, "restarting_grace": 60, "crashloop_restarts": 5}
    base.update(kw)
    return DetectContext(**base)  # type: ignore[arg-type]


def conditions(findings: list[Finding]) -> dict[Condition, tuple[ContainerId, ...]]:
    return {f.condition: f.container_ids for f in findings}


# --- the condition → action table (docs/architecture.md, What it does) ------------------------


def test_each_condition_maps_to_the_designed_action() -> None:
    assert CONDITION_ACTION[Condition.UNHEALTHY] == Action.RESTART
    assert CONDITION_ACTION[Condition.EXITED] == Action.START
    assert CONDITION_ACTION[Condition.RESTARTING] == Action.STOP_START
    assert CONDITION_ACTION[Condition.MEMORY] == Action.RESTART
    assert CONDITION_ACTION[Condition.CPU] == Action.RESTART
    assert CONDITION_ACTION[Condition.NETWORK] == Action.RESTART
    assert CONDITION_ACTION[Condition.DISK] == Action.CLEANUP
    assert set(CONDITION_ACTION) == set(Condition)


# --- detect ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "c",
    [
        ctr(state="running", health="healthy"),
        ctr(state="running", health=None),
        ctr(state="running", health="starting"),
        ctr(state="created"),
        ctr(state="paused"),
    ],
)
def test_nothing_to_do(c: ContainerView) -> None:
    assert detect(view(c), ctx()) == []


def test_unhealthy_is_restarted() -> None:
    c = ctr(health="unhealthy")
    (f,) = detect(view(c), ctx())
    assert f == Finding(SID, Condition.UNHEALTHY, Action.RESTART, (c.id,), f.detail)
    assert "shop-web-1" in f.detail
    assert "healthcheck" in f.detail


@pytest.mark.parametrize("state", ["exited", "dead"])
def test_down_container_is_started(state: str) -> None:
    c = ctr(state=state, exit_code=137)
    (f,) = detect(view(c), ctx())
    assert (f.condition, f.action, f.container_ids) == (Condition.EXITED, Action.START, (c.id,))
    assert "137" in f.detail


def test_restarting_within_the_grace_is_left_to_the_engine() -> None:
    c = ctr(state="restarting")
    assert detect(view(c), ctx(restarting_since={c.id: NOW - 59})) == []
    assert detect(view(c), ctx()) == []  # first sighting: no clock started yet


def test_restarting_beyond_the_grace_is_stopped_and_started() -> None:
    c = ctr(state="restarting")
    (f,) = detect(view(c), ctx(restarting_since={c.id: NOW - 60}))
    assert (f.condition, f.action, f.container_ids) == (
        Condition.RESTARTING,
        Action.STOP_START,
        (c.id,),
    )
    assert "60s" in f.detail


@pytest.mark.parametrize("state", ["running", "restarting"])
def test_crash_loop_from_recent_dies(state: str) -> None:
    c = ctr(state=state)
    (f,) = detect(view(c), ctx(recent_dies={SID: 5}))
    assert (f.condition, f.action) == (Condition.RESTARTING, Action.STOP_START)
    assert "crash loop" in f.detail
    assert detect(view(c), ctx(recent_dies={SID: 4})) == []


def test_another_services_dies_do_not_count() -> None:
    c = ctr()
    assert detect(view(c), ctx(recent_dies={ServiceId("shop/db"): 50})) == []


def test_down_beats_crash_loop_and_unhealthy_beats_crash_loop() -> None:
    down, sick = ctr(1, state="exited", exit_code=1), ctr(2, health="unhealthy")
    found = conditions(detect(view(down, sick), ctx(recent_dies={SID: 9})))
    assert found == {Condition.EXITED: (down.id,), Condition.UNHEALTHY: (sick.id,)}


def test_hand_stopped_container_is_a_finding_by_default() -> None:
    # The seed's behaviour: a `compose stop`ped service is started again. Whether a respected
    # manual stop is filtered here or skipped by the planner is covered in test_reconcile.
    c = ctr(state="exited", exit_code=0)
    (f,) = detect(view(c), ctx(manual_stops=frozenset({c.id})))
    assert (f.condition, f.container_ids) == (Condition.EXITED, (c.id,))


def test_findings_group_containers_by_condition() -> None:
    a, b = ctr(1, health="unhealthy"), ctr(2, health="unhealthy")
    ok, down = ctr(3, health="healthy"), ctr(4, state="exited", exit_code=2)
    findings = detect(view(a, b, ok, down), ctx())
    assert conditions(findings) == {
        Condition.UNHEALTHY: (a.id, b.id),
        Condition.EXITED: (down.id,),
    }
    sick = next(f for f in findings if f.condition == Condition.UNHEALTHY)
    assert "shop-web-1" in sick.detail
    assert "shop-web-2" in sick.detail
    assert all(f.sid == SID for f in findings)


states = st.sampled_from(["created", "running", "paused", "restarting", "exited", "dead"])
healths = st.sampled_from([None, "healthy", "unhealthy", "starting"])


@PROPS
@given(st.lists(st.tuples(states, healths), min_size=0, max_size=6), st.integers(0, 10))
def test_every_failing_container_is_in_exactly_one_finding(
    specs: list[tuple[str, str | None]], dies: int
) -> None:
    containers = [ctr(i, state=s, health=h) for i, (s, h) in enumerate(specs)]
    findings = detect(view(*containers), ctx(recent_dies={SID: dies}))
    listed = [cid for f in findings for cid in f.container_ids]
    assert len(listed) == len(set(listed))
    assert len({f.condition for f in findings}) == len(findings)
    for f in findings:
        assert f.action == CONDITION_ACTION[f.condition]
    for c in containers:
        failing = c.state in ("exited", "dead") or (
            c.state == "running" and c.health == "unhealthy"
        )
        if failing:
            assert c.id in listed
        if not failing and dies < 5:
            assert c.id not in listed


# --- manually_stopped --------------------------------------------------------------------------


def test_manually_stopped_needs_every_down_container_stopped_by_hand() -> None:
    a, b = ctr(1, state="exited"), ctr(2, state="exited")
    both, one = frozenset({a.id, b.id}), frozenset({a.id})
    assert manually_stopped(view(a, b), ctx(manual_stops=both, respect_manual_stop=True))
    assert not manually_stopped(view(a, b), ctx(manual_stops=one, respect_manual_stop=True))
    assert not manually_stopped(view(a, b), ctx(manual_stops=both))  # not respected
    assert not manually_stopped(view(ctr(3)), ctx(respect_manual_stop=True))  # nothing down


# --- status ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("c", "status"),
    [
        (ctr(health="healthy"), HealthStatus.HEALTHY),
        (ctr(health=None), HealthStatus.HEALTHY),
        (ctr(health="unhealthy"), HealthStatus.UNHEALTHY),
        (ctr(health="starting"), HealthStatus.STARTING),
        (ctr(state="created"), HealthStatus.STARTING),
        (ctr(state="exited"), HealthStatus.EXITED),
        (ctr(state="dead"), HealthStatus.EXITED),
        (ctr(state="restarting"), HealthStatus.RESTARTING),
        (ctr(state="paused"), HealthStatus.UNKNOWN),
        (ctr(state="removing"), HealthStatus.UNKNOWN),
    ],
)
def test_container_status(c: ContainerView, status: HealthStatus) -> None:
    assert container_status(c) == status
    assert is_good(c) == (status == HealthStatus.HEALTHY)


def test_rollup_reports_the_worst_container() -> None:
    ok, starting = ctr(1, health="healthy"), ctr(2, health="starting")
    sick, looping = ctr(3, health="unhealthy"), ctr(4, state="restarting")
    down = ctr(5, state="exited")
    assert container_status_rollup((ok, ok)) == HealthStatus.HEALTHY
    assert container_status_rollup((ok, starting)) == HealthStatus.STARTING
    assert container_status_rollup((ok, starting, sick)) == HealthStatus.UNHEALTHY
    assert container_status_rollup((sick, looping)) == HealthStatus.RESTARTING
    assert container_status_rollup((looping, down, ok)) == HealthStatus.EXITED
    assert container_status_rollup((ok, ctr(6, state="paused"))) == HealthStatus.UNKNOWN
    assert container_status_rollup(()) == HealthStatus.UNKNOWN


def test_service_status_precedence() -> None:
    v = view(ctr(state="exited"))
    flags = {"quarantined": False, "paused": False, "opted_out": False}
    assert service_status(v, **flags) == HealthStatus.EXITED
    assert service_status(v, **{**flags, "opted_out": True}) == HealthStatus.OPTED_OUT
    assert service_status(v, **{**flags, "opted_out": True, "paused": True}) == HealthStatus.PAUSED
    all_on = {"quarantined": True, "paused": True, "opted_out": True}
    assert service_status(v, **all_on) == HealthStatus.QUARANTINED


# --- still_failing (the re-check right before acting) ------------------------------------------


@pytest.mark.parametrize(
    ("condition", "state", "health", "restarting", "engine_restarts", "failing"),
    [
        (Condition.EXITED, "exited", None, False, False, True),
        (Condition.EXITED, "dead", None, False, False, True),
        (Condition.EXITED, "running", None, False, False, False),
        (Condition.EXITED, "running", "healthy", False, False, False),
        (Condition.UNHEALTHY, "running", "unhealthy", False, False, True),
        (Condition.UNHEALTHY, "running", "healthy", False, False, False),
        (Condition.UNHEALTHY, "running", "starting", False, False, False),
        (Condition.UNHEALTHY, "exited", "unhealthy", False, False, False),
        (Condition.RESTARTING, "restarting", None, True, False, True),
        (Condition.RESTARTING, "restarting", None, False, False, True),
        (Condition.RESTARTING, "running", None, False, True, True),
        (Condition.RESTARTING, "running", None, False, False, False),
        (Condition.RESTARTING, "exited", None, False, True, False),
        (Condition.MEMORY, "running", "healthy", False, False, True),
        (Condition.ALERT, "running", "healthy", False, False, True),
        (Condition.MANUAL, "running", "healthy", False, False, True),
    ],
)
def test_still_failing(
    condition: Condition,
    state: str,
    health: str | None,
    restarting: bool,
    engine_restarts: bool,
    failing: bool,
) -> None:
    assert still_failing(condition, state, health, restarting, engine_restarts) is failing
