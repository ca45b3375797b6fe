"""Dependency awareness in the planner: wait for a down dependency without charging the
dependent, dependencies first, and dependents bounced once their dependency is back."""

from __future__ import annotations

from healer.core.model import (
    Condition,
    ContainerId,
    ContainerView,
    ServiceId,
    ServiceView,
    SkipReason,
)
from healer.core.observed import Snapshot
from healer.core.reconcile import PolicyDefaults, plan, related_views

NOW = 1_000_000.0
DB, APP, WORKER = ServiceId("p/db"), ServiceId("p/app"), ServiceId("p/worker")
DEFAULTS = PolicyDefaults(
    reset_after=600,
    backoff_max=3600,
    restarting_grace=60,
    crashloop_restarts=5,
    respect_manual_stop=False,
    episode_ttl=86400,
    condition_defaults={c: (300.0, 3) for c in Condition},
)
DEPENDS = {
    APP: "db:service_healthy:true",
    WORKER: "app:service_started:false",
}


def view(
    sid: ServiceId, state: str = "running", health: str | None = "healthy", network_mode: str = ""
) -> ServiceView:
    project, service = sid.split("/")
    labels = {"com.docker.compose.depends_on": DEPENDS.get(sid, "")}
    c = ContainerView(
        id=ContainerId(service.ljust(64, "0")),
        name=f"{project}-{service}-1",
        project=project,
        service=service,
        number=1,
        state=state,
        health=None if state != "running" else health,
        exit_code=1 if state == "exited" else None,
        labels=labels,
        network_mode=network_mode,
    )
    return ServiceView(sid, (c,), labels)


def views(**states: str) -> dict[ServiceId, ServiceView]:
    out = {}
    for sid in (DB, APP, WORKER):
        state = states.get(sid.split("/")[1], "running")
        out[sid] = view(sid, state)
    return out


def test_dependent_waits_for_its_down_dependency_and_is_not_charged() -> None:
    p = plan(views(db="exited", app="exited", worker="exited"), Snapshot(), DEFAULTS, NOW)
    assert [r.sid for r in p.requests] == [DB]
    waits = [n for n in p.notes if n.reason == SkipReason.WAITING_DEPENDENCY.value]
    assert {n.sid for n in waits} == {APP, WORKER}
    assert {n.detail for n in waits} == {"waiting for p/db"}  # the most upstream one
    assert not p.effects or not p.effects.refresh_episodes


def test_a_dependency_started_but_not_healthy_yet_still_holds_who_waits_for_its_health() -> None:
    # db was just started again (health: starting): app waits for it with service_healthy and
    # is not started yet, as `docker compose up` would; worker waits for app as before.
    vs = views(app="exited", worker="exited")
    vs[DB] = view(DB, "running", "starting")
    p = plan(vs, Snapshot(), DEFAULTS, NOW)
    assert p.requests == []
    waits = [n for n in p.notes if n.reason == SkipReason.WAITING_DEPENDENCY.value]
    assert {(n.sid, n.detail) for n in waits} == {
        (APP, "waiting for p/db"),
        (WORKER, "waiting for p/db"),
    }
    # Healthy: app goes first, and db's start is no bounce of its dependents.
    vs[DB] = view(DB)
    p = plan(vs, Snapshot(), DEFAULTS, NOW)
    assert [r.sid for r in p.requests] == [APP]


def test_a_dependency_awaited_only_started_holds_nobody_while_its_health_starts() -> None:
    # worker waits for app with service_started: app running with its check still starting
    # is enough.
    vs = views(worker="exited")
    vs[APP] = view(APP, "running", "starting")
    p = plan(vs, Snapshot(), DEFAULTS, NOW)
    assert [r.sid for r in p.requests] == [WORKER]


def test_only_the_most_upstream_failure_is_repaired_first() -> None:
    # db is fine, app unhealthy, worker exited: worker waits for app, app is repaired.
    vs = views()
    vs[APP] = view(APP, "running", "unhealthy")
    vs[WORKER] = view(WORKER, "exited")
    p = plan(vs, Snapshot(), DEFAULTS, NOW)
    assert [r.sid for r in p.requests] == [APP]


def test_independent_failures_are_ordered_by_the_graph() -> None:
    vs = {sid: view(sid, "exited") for sid in (WORKER, DB)}  # app absent: no path between them
    p = plan(vs, Snapshot(), DEFAULTS, NOW)
    assert [r.sid for r in p.requests] == [DB, WORKER]


def test_a_dependency_back_to_health_restarts_dependents_that_asked_for_it() -> None:
    snap = Snapshot(was_down=frozenset({DB}))
    p = plan(views(), snap, DEFAULTS, NOW)
    assert p.effects is not None and DB in p.effects.down_cleared
    bounced = [(r.sid, r.condition) for r in p.requests]
    assert bounced == [(APP, Condition.DEPENDENCY)]  # worker declared restart: false


def test_a_down_service_is_remembered_until_it_is_back() -> None:
    p = plan(views(db="exited"), Snapshot(), DEFAULTS, NOW)
    assert p.effects is not None and p.effects.down_seen == [DB]
    again = plan(views(db="exited"), Snapshot(was_down=frozenset({DB})), DEFAULTS, NOW)
    assert again.effects is not None and again.effects.down_seen == []


def test_network_namespace_sharers_are_restarted_with_their_owner() -> None:
    vs = {
        DB: view(DB),
        ServiceId("p/sidecar"): view(
            ServiceId("p/sidecar"), network_mode="container:" + "db".ljust(64, "0")
        ),
    }
    p = plan(vs, Snapshot(was_down=frozenset({DB})), DEFAULTS, NOW)
    assert [(r.sid, r.condition) for r in p.requests] == [
        (ServiceId("p/sidecar"), Condition.DEPENDENCY)
    ]
    assert "network namespace" in p.requests[0].detail


def test_a_probe_of_one_service_plans_its_dependency_component_only() -> None:
    lone = ServiceId("p/lone")
    everything = {**views(db="exited"), lone: view(lone, "exited")}
    # app's probe: db, which it needs, and worker, which needs it; not the unrelated service.
    assert set(related_views(everything, APP)) == {DB, APP, WORKER}
    assert set(related_views(everything, lone)) == {lone}
    narrowed = plan(related_views(everything, APP), Snapshot(), DEFAULTS, NOW)
    assert [r.sid for r in narrowed.requests] == [DB]
    assert narrowed.effects is not None
    assert set(narrowed.effects.snapshots) == {DB, APP, WORKER}
