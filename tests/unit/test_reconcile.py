"""One probe cycle planned purely: requests, skip notes, health tracking and episode resets."""

from __future__ import annotations

from dataclasses import replace

import pytest

from healer.core.labels import ServiceLabels
from healer.core.model import (
    Action,
    Condition,
    ContainerId,
    ContainerView,
    RepairRequest,
    ServiceId,
    ServiceView,
    Source,
)
from healer.core.observed import ProbeEffects, Snapshot
from healer.core.reconcile import Note, Plan, PolicyDefaults, plan
from healer.core.repair.backoff import Episode, Verdict, decide

NOW = 1_000_000.0
WEB = ServiceId("shop/web")
DB = ServiceId("shop/db")
SEED = (300.0, 3)
DEFAULTS = PolicyDefaults(
    reset_after=600,
    backoff_max=3600,
    restarting_grace=60,
    crashloop_restarts=5,
    respect_manual_stop=False,
    episode_ttl=7 * 86400,
    condition_defaults={
        **{c: SEED for c in Condition},
        Condition.MEMORY: (600, 2),
        Condition.CPU: (600, 2),
        Condition.DISK: (3600, 1),
    },
)


def ctr(
    sid: ServiceId = WEB,
    n: int = 1,
    state: str = "running",
    health: str | None = "healthy",
    exit_code: int | None = None,
) -> ContainerView:
    project, service = sid.split("/")
    return ContainerView(
        id=ContainerId(f"{service}{n}".ljust(64, "a")),
        name=f"{project}-{service}-{n}",
        project=project,
        service=service,
        number=n,
        state=state,
        health=health,
        exit_code=exit_code,
    )


def svc(*containers: ContainerView, labels: dict[str, str] | None = None) -> ServiceView:
    return ServiceView(containers[0].service_id, containers, labels or {})


def views(*services: ServiceView) -> dict[ServiceId, ServiceView]:
    return {s.sid: s for s in services}


def run(
    *services: ServiceView,
    snap: Snapshot | None = None,
    d: PolicyDefaults = DEFAULTS,
    now: float = NOW,
) -> tuple[Plan, ProbeEffects]:
    p = plan(views(*services), snap or Snapshot(), d, now)
    assert p.effects is not None
    return p, p.effects


def skips(p: Plan) -> list[Note]:
    return [n for n in p.notes if n.outcome == "skipped"]


SICK = ctr(health="unhealthy")
DOWN = ctr(state="exited", health=None, exit_code=1)


# --- requests ------------------------------------------------------------------------------


def test_unhealthy_service_gets_one_restart_request() -> None:
    p, eff = run(svc(SICK))
    assert p.requests == [
        RepairRequest(
            WEB, Condition.UNHEALTHY, Action.RESTART, (SICK.id,), p.requests[0].detail, Source.PROBE
        )
    ]
    assert p.notes == []
    assert eff.refresh_episodes == []


def test_exited_service_is_started_with_the_given_source() -> None:
    p = plan(views(svc(DOWN)), Snapshot(), DEFAULTS, NOW, source=Source.EVENT)
    (req,) = p.requests
    assert (req.condition, req.action, req.container_ids, req.source) == (
        Condition.EXITED,
        Action.START,
        (DOWN.id,),
        "event",
    )


def test_healthy_service_gets_nothing() -> None:
    p, _ = run(svc(ctr()))
    assert p.requests == []
    assert p.notes == []


def test_only_failing_services_get_requests() -> None:
    p, eff = run(svc(SICK), svc(ctr(DB)))
    assert [r.sid for r in p.requests] == [WEB]
    assert set(eff.snapshots) == {WEB, DB}


def test_stuck_restarting_container_is_stopped_and_started() -> None:
    c = ctr(state="restarting", health=None)
    p, eff = run(svc(c), snap=Snapshot(restarting_since={c.id: NOW - 61}))
    (req,) = p.requests
    assert (req.condition, req.action) == (Condition.RESTARTING, Action.STOP_START)
    assert eff.restarting_seen == {c.id: NOW}  # written NX, so the first sighting stays


def test_restarting_clock_starts_and_clears() -> None:
    looping = ctr(state="restarting", health=None)
    p, eff = run(svc(looping))
    assert p.requests == []
    assert eff.restarting_seen == {looping.id: NOW}
    back = replace(looping, state="running", health="healthy")
    _, eff = run(svc(back), snap=Snapshot(restarting_since={looping.id: NOW - 5}))
    assert eff.restarting_cleared == [looping.id]
    assert eff.restarting_seen == {}


def test_crash_loop_from_recent_dies() -> None:
    p, _ = run(svc(ctr(health=None)), snap=Snapshot(recent_dies={WEB: 5}))
    (req,) = p.requests
    assert req.action == Action.STOP_START


# --- skips: opt-out, pause, manual stop --------------------------------------------------


def test_opted_out_service_is_observed_but_never_touched() -> None:
    p, eff = run(svc(SICK, labels={"auto_repair": "false"}))
    assert p.requests == []
    (note,) = skips(p)
    assert (note.sid, note.condition, note.action, note.reason, note.once) == (
        WEB,
        Condition.UNHEALTHY,
        Action.RESTART,
        "opted_out",
        True,
    )
    assert eff.snapshots[WEB]["status"] == "opted_out"
    assert eff.snapshots[WEB]["opted_out"] is True


@pytest.mark.parametrize(
    "snap", [Snapshot(paused=frozenset({WEB})), Snapshot(paused_all=True)], ids=["one", "all"]
)
def test_paused_service_is_skipped(snap: Snapshot) -> None:
    p, eff = run(svc(DOWN), snap=snap)
    assert p.requests == []
    (note,) = skips(p)
    assert (note.reason, note.once) == ("paused", True)
    assert eff.snapshots[WEB]["status"] == "paused"
    assert eff.snapshots[WEB]["paused"] is True


def test_pausing_one_service_leaves_the_others_alone() -> None:
    p, _ = run(svc(DOWN), svc(ctr(DB, health="unhealthy")), snap=Snapshot(paused=frozenset({WEB})))
    assert [r.sid for r in p.requests] == [DB]


def test_hand_stopped_service_is_started_again_by_default() -> None:
    p, _ = run(svc(DOWN), snap=Snapshot(manual_stops=frozenset({DOWN.id})))
    (req,) = p.requests
    assert req.action == Action.START


def test_respected_manual_stop_is_skipped_with_a_note() -> None:
    d = replace(DEFAULTS, respect_manual_stop=True)
    p, _ = run(svc(DOWN), snap=Snapshot(manual_stops=frozenset({DOWN.id})), d=d)
    assert p.requests == []
    # docs/architecture.md: every decision, skipped and why, goes to history.
    (note,) = skips(p)
    assert (note.condition, note.action, note.reason, note.once) == (
        Condition.EXITED,
        Action.START,
        "manual_stop",
        True,
    )


def test_respected_manual_stop_still_starts_a_crashed_replica() -> None:
    crashed = ctr(n=2, state="exited", health=None, exit_code=139)
    d = replace(DEFAULTS, respect_manual_stop=True)
    p, _ = run(svc(DOWN, crashed), snap=Snapshot(manual_stops=frozenset({DOWN.id})), d=d)
    (req,) = p.requests
    assert req.container_ids == (crashed.id,)


# --- restart policy through the planner ------------------------------------------------------


def snap_with(
    attempts: int,
    last: float | None,
    condition: Condition = Condition.UNHEALTHY,
    quarantined_at: float | None = None,
    **kw: object,
) -> Snapshot:
    ep = Episode(attempts, last, last, quarantined_at)
    return Snapshot(episodes={(WEB, condition): ep}, **kw)  # type: ignore[arg-type]


def test_cooldown_wait_is_a_skip_note_and_refreshes_the_episode_ttl() -> None:
    p, eff = run(svc(SICK), snap=snap_with(1, NOW - 100))
    assert p.requests == []
    (note,) = skips(p)
    assert (note.reason, note.once) == ("cooldown", True)
    assert "200s left" in note.detail
    assert eff.refresh_episodes == [(WEB, Condition.UNHEALTHY)]


def test_later_waits_are_called_backoff() -> None:
    p, eff = run(svc(SICK), snap=snap_with(2, NOW - 300))
    assert p.requests == []
    assert skips(p)[0].reason == "backoff"
    assert eff.refresh_episodes == [(WEB, Condition.UNHEALTHY)]
    assert eff.snapshots[WEB]["cooldown_remaining"] == {"unhealthy": 300.0}


def test_after_the_wait_the_next_repair_is_requested() -> None:
    p, eff = run(svc(SICK), snap=snap_with(2, NOW - 600))
    assert len(p.requests) == 1
    assert eff.refresh_episodes == []


def test_spent_budget_is_requested_so_the_repair_task_can_quarantine() -> None:
    p, _ = run(svc(SICK), snap=snap_with(3, NOW - 5))
    (req,) = p.requests
    policy = DEFAULTS.restart_policy(ServiceLabels(), req.condition)
    assert decide(policy, Episode(3, NOW - 5, NOW - 5), NOW).verdict == Verdict.QUARANTINE


def test_quarantined_service_is_skipped_and_reported_quarantined() -> None:
    p, eff = run(svc(SICK), snap=snap_with(3, NOW - 5000, quarantined_at=NOW - 4000))
    assert p.requests == []
    (note,) = skips(p)
    assert note.reason == "quarantined"
    assert eff.refresh_episodes == [(WEB, Condition.UNHEALTHY)]
    s = eff.snapshots[WEB]
    assert (s["status"], s["quarantined"], s["attempts"]) == ("quarantined", True, 3)


def test_episodes_are_per_condition() -> None:
    # a spent budget for `unhealthy` does not hold back a start of an exited container
    p, _ = run(svc(DOWN), snap=snap_with(3, NOW - 1, condition=Condition.UNHEALTHY))
    (req,) = p.requests
    assert req.condition == Condition.EXITED


def test_episodes_are_per_service() -> None:
    other = Snapshot(episodes={(DB, Condition.UNHEALTHY): Episode(1, NOW - 1, NOW - 1)})
    p, _ = run(svc(SICK), snap=other)
    assert len(p.requests) == 1


def test_label_cooldown_override_is_used() -> None:
    labelled = svc(SICK, labels={"healer.unhealthy.cooldown": "30s"})
    p, eff = run(labelled, snap=snap_with(1, NOW - 31))
    assert len(p.requests) == 1
    p, eff = run(labelled, snap=snap_with(1, NOW - 29))
    assert p.requests == []
    assert eff.snapshots[WEB]["cooldown_remaining"] == {"unhealthy": 1.0}


def test_label_max_attempts_override_is_used() -> None:
    labelled = svc(SICK, labels={"healer.unhealthy.max_attempts": "1"})
    p, _ = run(labelled, snap=snap_with(1, NOW - 10, quarantined_at=NOW - 9))
    assert skips(p)[0].reason == "quarantined"


def test_bad_labels_are_info_notes_and_defaults_apply() -> None:
    labelled = svc(SICK, labels={"healer.unhealthy.cooldown": "soon", "auto_repair": "sometimes"})
    p, eff = run(labelled, snap=snap_with(1, NOW - 299))
    infos = [n for n in p.notes if n.outcome == "info"]
    assert len(infos) == 2
    assert all(n.once and n.sid == WEB for n in infos)
    assert any("healer.unhealthy.cooldown" in n.detail for n in infos)
    assert p.requests == []  # the default 300 s cooldown is still in force
    assert skips(p)[0].reason == "cooldown"
    problems = eff.snapshots[WEB]["problems"]
    assert isinstance(problems, list) and len(problems) == 2


# --- healthy_since and episode reset -------------------------------------------------------


def test_healthy_since_is_started_when_every_container_is_good() -> None:
    _, eff = run(svc(ctr(n=1), ctr(n=2, health=None)))
    assert eff.healthy_seen == {WEB: NOW}
    assert eff.healthy_cleared == []


def test_healthy_since_is_kept_not_restarted() -> None:
    _, eff = run(svc(ctr()), snap=Snapshot(healthy_since={WEB: NOW - 10}))
    assert eff.healthy_seen == {}
    assert eff.healthy_cleared == []


@pytest.mark.parametrize(
    "bad",
    [
        ctr(n=2, health="unhealthy"),
        ctr(n=2, health="starting"),
        ctr(n=2, state="exited", health=None),
        ctr(n=2, state="restarting", health=None),
    ],
)
def test_healthy_since_is_cleared_when_any_container_is_not_good(bad: ContainerView) -> None:
    _, eff = run(svc(ctr(), bad), snap=Snapshot(healthy_since={WEB: NOW - 10}))
    assert eff.healthy_cleared == [WEB]
    assert eff.healthy_seen == {}


def test_not_good_without_healthy_since_clears_nothing() -> None:
    _, eff = run(svc(SICK))
    assert eff.healthy_cleared == []


def test_episode_resets_after_reset_after_of_health() -> None:
    snap = snap_with(2, NOW - 5000, healthy_since={WEB: NOW - 600})
    p, eff = run(svc(ctr()), snap=snap)
    assert eff.reset_services == [WEB]
    (note,) = [n for n in p.notes if n.outcome == "reset"]
    assert note.sid == WEB
    assert "quarantine" not in note.reason
    assert eff.snapshots[WEB]["attempts"] == 0
    assert eff.snapshots[WEB]["episodes"] == {}


def test_reset_lifts_a_quarantine_and_says_so() -> None:
    snap = snap_with(3, NOW - 5000, quarantined_at=NOW - 4000, healthy_since={WEB: NOW - 700})
    p, eff = run(svc(ctr()), snap=snap)
    assert eff.reset_services == [WEB]
    (note,) = [n for n in p.notes if n.outcome == "reset"]
    assert "quarantine lifted" in note.reason
    s = eff.snapshots[WEB]
    assert (s["status"], s["quarantined"]) == ("healthy", False)


def test_no_reset_before_reset_after() -> None:
    snap = snap_with(2, NOW - 5000, healthy_since={WEB: NOW - 599})
    p, eff = run(svc(ctr()), snap=snap)
    assert eff.reset_services == []
    assert [n for n in p.notes if n.outcome == "reset"] == []
    assert eff.snapshots[WEB]["attempts"] == 2


def test_no_reset_without_an_episode() -> None:
    p, eff = run(svc(ctr()), snap=Snapshot(healthy_since={WEB: NOW - 10_000}))
    assert eff.reset_services == []
    assert p.notes == []


def test_no_reset_while_unhealthy_however_old_the_episode() -> None:
    snap = snap_with(3, NOW - 10**6, quarantined_at=NOW - 10**6)
    _, eff = run(svc(SICK), snap=snap)
    assert eff.reset_services == []


def test_a_repair_after_healthy_since_restarts_the_reset_clock() -> None:
    """An episode ends after reset_after of good health *between repairs*
    (docs/architecture.md, Restart policy).

    An alert or operator repair of a service Docker calls healthy never clears healthy_since
    (no probe saw it failing), so health 'since' long before the repair must not count."""
    snap = snap_with(1, NOW - 30, condition=Condition.ALERT, healthy_since={WEB: NOW - 86400})
    p, eff = run(svc(ctr()), snap=snap)
    assert [n for n in p.notes if n.outcome == "reset"] == []
    assert eff.reset_services == []
    assert eff.snapshots[WEB]["attempts"] == 1


# --- snapshot and effects ------------------------------------------------------------------


def test_snapshot_contents() -> None:
    snap = Snapshot(
        episodes={
            (WEB, Condition.UNHEALTHY): Episode(2, NOW - 100, NOW - 400),
            (WEB, Condition.EXITED): Episode(1, NOW - 1000, NOW - 1000),
        }
    )
    c2 = ctr(n=2, state="exited", health=None, exit_code=137)
    _, eff = run(svc(SICK, c2), snap=snap)
    s = eff.snapshots[WEB]
    assert s["service"] == WEB
    assert s["status"] == "exited"
    assert s["attempts"] == 3
    assert s["episodes"] == {"unhealthy": 2, "exited": 1}
    assert s["cooldown_remaining"] == {"unhealthy": 500.0, "exited": 0.0}
    assert s["quarantined"] is False
    assert s["observed_at"] == NOW
    assert s["containers"] == [
        {
            "name": "shop-web-1",
            "id": SICK.id[:12],
            "state": "running",
            "health": "unhealthy",
            "exit_code": None,
        },
        {
            "name": "shop-web-2",
            "id": c2.id[:12],
            "state": "exited",
            "health": None,
            "exit_code": 137,
        },
    ]


def test_effect_ttls() -> None:
    _, eff = run(svc(ctr()))
    assert eff.episode_ttl == DEFAULTS.episode_ttl
    assert eff.healthy_ttl > DEFAULTS.reset_after  # outlives the reset window


def test_restart_policy_takes_the_condition_defaults() -> None:
    mem = DEFAULTS.restart_policy(ServiceLabels(), Condition.MEMORY)
    assert (mem.cooldown, mem.max_attempts, mem.quarantines) == (600, 2, True)
    manual = DEFAULTS.restart_policy(ServiceLabels(), Condition.MANUAL)
    assert manual.quarantines is False
    assert (manual.backoff_max, manual.reset_after) == (3600, 600)


# --- a crash loop through planner + guard, many cycles -------------------------------------


def test_crash_loop_over_many_probe_cycles() -> None:
    """Probe every 30 s; the guard (decide) runs for each request; effects are applied."""
    episodes: dict[tuple[ServiceId, Condition], Episode] = {}
    acts: list[float] = []
    quarantined_at = None
    for i in range(200):
        now = NOW + 30 * i
        p, _ = run(svc(SICK), snap=Snapshot(episodes=dict(episodes)), now=now)
        for req in p.requests:
            key = (req.sid, req.condition)
            policy = DEFAULTS.restart_policy(ServiceLabels(), req.condition)
            d = decide(policy, episodes.get(key, Episode()), now)
            if d.verdict == Verdict.ACT:
                acts.append(now - NOW)
            elif d.verdict == Verdict.QUARANTINE:
                quarantined_at = now - NOW
            episodes[key] = d.episode
        if quarantined_at is not None and i * 30 > quarantined_at:
            assert p.requests == []
            assert skips(p)[0].reason == "quarantined"
    assert acts == [0, 300, 900]
    assert quarantined_at == 930
