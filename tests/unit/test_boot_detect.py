"""Engine restart detection, inspect translation, and how the reconcile leaves a recovering
project (and completed one-shots) alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from healer.adapters.docker.state import state_from_inspect
from healer.core.boot.detect import (
    ContainerTimes,
    Witness,
    changed_containers,
    engine_time,
    restarted_containers,
    service_state,
    up_throughout,
    witness_of,
)
from healer.core.container_state import ContainerState
from healer.core.model import (
    Condition,
    ContainerId,
    ContainerView,
    ServiceId,
    ServiceView,
    SkipReason,
)
from healer.core.observed import Snapshot
from healer.core.reconcile import PolicyDefaults, dependency_view, plan

A, B, C = ContainerId("a" * 64), ContainerId("b" * 64), ContainerId("c" * 64)
ALIVE = 1000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-29T12:42:31.35812238Z", 1795956151.35812238),
        ("2026-11-29T12:42:31Z", 1795956151.0),
        ("2026-11-29T13:42:31.5+01:00", 1795956151.5),
        ("0001-01-01T00:00:00Z", 0.0),
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_engine_time(text: str | None, expected: float) -> None:
    assert engine_time(text) == pytest.approx(expected, abs=1e-6)


def test_a_restart_stopped_or_started_every_container_meant_to_run() -> None:
    times = {
        A: ContainerTimes(True, ALIVE + 5, ALIVE + 2),  # restart policy: started again
        B: ContainerTimes(False, ALIVE - 500, ALIVE + 2),  # restart "no": stopped by it
        C: ContainerTimes(False, ALIVE - 900, ALIVE - 800),  # down before: says nothing
    }
    assert restarted_containers([A, B, C], times, ALIVE) == {A, B}


def test_one_container_still_running_since_before_means_no_restart() -> None:
    """A crash while the stream reconnected, or an engine with live-restore."""
    times = {
        A: ContainerTimes(True, ALIVE + 5, ALIVE + 2),
        B: ContainerTimes(True, ALIVE - 500, 0.0),
    }
    assert restarted_containers([A, B], times, ALIVE) == frozenset()


def test_nothing_changed_or_nothing_known_is_no_restart() -> None:
    assert restarted_containers([A], {A: ContainerTimes(True, ALIVE - 5, 0)}, ALIVE) == set()
    assert restarted_containers([A], {}, ALIVE) == set()  # removed since
    assert restarted_containers([], {}, ALIVE) == set()


# --- what the engine answering now witnessed ------------------------------------------


def _witness(
    dies: dict[ContainerId, list[float]] | None = None,
    kills: dict[ContainerId, list[float]] | None = None,
    oldest: float = ALIVE + 1,  # a new engine's buffer, or one that rolled over since
) -> Witness:
    return Witness(oldest, dies or {}, kills or {})


def test_a_crash_the_engine_replays_is_no_restart() -> None:
    """The only container crashed after the engine was last seen alive (a healer process
    restarted just then): its die is in the current engine's replay, with no kill before."""
    times = {A: ContainerTimes(False, ALIVE - 50, ALIVE + 2)}
    assert restarted_containers([A], times, ALIVE, _witness({A: [ALIVE + 2.001]})) == set()


def test_the_healers_own_start_after_a_replayed_crash_is_no_restart() -> None:
    """Crashed after the engine was last seen alive, started by the healer since: the die of
    the exit before this run is replayed. (Crashed just before: the replayed die itself
    shows the engine was up throughout.)"""
    for exited in (ALIVE + 1.5, ALIVE - 0.5):
        times = {A: ContainerTimes(True, ALIVE + 3, exited)}
        witness = _witness({A: [exited + 0.001]}, oldest=exited + 0.001)
        assert restarted_containers([A], times, ALIVE, witness) == set()


def test_a_die_the_current_engine_did_not_emit_is_a_restart() -> None:
    """The old engine stopped it while shutting down: the new one holds no such event (or
    the buffer rolled over: the conservative side)."""
    stopped = {A: ContainerTimes(False, ALIVE - 50, ALIVE + 2)}
    restarted = {A: ContainerTimes(True, ALIVE + 5, ALIVE + 2)}
    assert restarted_containers([A], stopped, ALIVE, _witness()) == {A}
    assert restarted_containers([A], restarted, ALIVE, _witness({B: [ALIVE + 2]})) == {A}
    assert restarted_containers([A], restarted, ALIVE) == {A}  # no replay at all


def test_a_die_after_a_kill_is_the_new_engine_stopping_what_survived_a_hard_crash() -> None:
    """dockerd killed (SIGKILL, OOM) leaves its containers running; the new one kills them
    while loading them, then its restart policy starts them: kill, die, stop, start."""
    times = {A: ContainerTimes(True, ALIVE + 5.4, ALIVE + 5.0)}
    witness = _witness({A: [ALIVE + 5.03]}, {A: [ALIVE + 5.0]}, oldest=ALIVE + 5.0)
    assert restarted_containers([A], times, ALIVE, witness) == {A}
    long_before = _witness({A: [ALIVE + 5.03]}, {A: [ALIVE + 5.03 - 200]}, oldest=ALIVE + 1)
    assert restarted_containers([A], times, ALIVE, long_before) == set()


def test_only_the_die_of_the_last_exit_witnesses_it() -> None:
    """A crash the engine saw, the healer's start, then an engine restart stopped it: the
    replayed die is of an earlier exit; and a die after the current run began is another."""
    times = {A: ContainerTimes(True, ALIVE + 9, ALIVE + 8)}
    assert restarted_containers([A], times, ALIVE, _witness({A: [ALIVE + 1]})) == {A}
    running = {A: ContainerTimes(True, ALIVE + 5, ALIVE + 2)}
    assert restarted_containers([A], running, ALIVE, _witness({A: [ALIVE + 7]})) == {A}


def test_a_crash_then_a_stop_through_the_api_judges_by_the_stop() -> None:
    """Crashed, started again at once, then stopped with a kill: the last die is the stop's."""
    times = {A: ContainerTimes(False, ALIVE + 2.1, ALIVE + 2.3)}
    witness = _witness({A: [ALIVE + 2.0, ALIVE + 2.3]}, {A: [ALIVE + 2.2]})
    assert restarted_containers([A], times, ALIVE, witness) == {A}
    crashed_twice = _witness({A: [ALIVE + 2.0, ALIVE + 2.3]}, {A: [ALIVE + 1.9]})
    assert restarted_containers([A], times, ALIVE, crashed_twice) == set()


def test_an_engine_holding_an_event_from_before_was_up_throughout() -> None:
    """Stopped by hand (a kill, a die) and nothing else to go by: the engine still holds
    an event from when it was last seen alive, so it is the same one."""
    times = {A: ContainerTimes(False, ALIVE - 50, ALIVE + 2)}
    hand_stop = {A: [ALIVE + 2]}
    assert restarted_containers([A], times, ALIVE, _witness(hand_stop, hand_stop)) == {A}
    same = _witness(hand_stop, hand_stop, oldest=ALIVE - 30)
    assert up_throughout(same, ALIVE)
    assert restarted_containers([A], times, ALIVE, same) == set()


def test_one_still_running_vetoes_even_an_unwitnessed_change() -> None:
    times = {
        A: ContainerTimes(False, ALIVE - 50, ALIVE + 2),
        B: ContainerTimes(True, ALIVE - 500, 0.0),
    }
    assert restarted_containers([A, B], times, ALIVE, _witness()) == set()


def test_mixed_only_the_unwitnessed_changes_are_the_restarts() -> None:
    """A restart is recognised from B, while A's exit happened under the engine answering
    now (it crashed after the boot): A is left to the repairs and its budget."""
    times = {
        A: ContainerTimes(False, ALIVE + 6, ALIVE + 9),
        B: ContainerTimes(True, ALIVE + 5, ALIVE + 2),
        C: ContainerTimes(False, ALIVE - 900, ALIVE - 800),  # down before: says nothing
    }
    assert restarted_containers([A, B, C], times, ALIVE, _witness({A: [ALIVE + 9]})) == {B}
    assert changed_containers([A, B, C], times, ALIVE) == {A, B}


def test_witness_of_the_replayed_events() -> None:
    def ev(kind: str, action: str, cid: str, at: float) -> dict[str, Any]:
        return {"Type": kind, "Action": action, "id": cid, "timeNano": int(at * 1e9)}

    w = witness_of(
        [
            ev("network", "connect", "n" * 64, ALIVE - 3),
            ev("container", "kill", A, ALIVE + 1),
            ev("container", "die", A, ALIVE + 1.5),
            ev("container", "start", A, ALIVE + 2),
            ev("container", "die", B, ALIVE + 4),
            {"Type": "container", "Action": "die", "id": C},  # no time: ignored
        ]
    )
    assert w.oldest == pytest.approx(ALIVE - 3)
    assert {c: list(t) for c, t in w.dies.items()} == {
        A: [pytest.approx(ALIVE + 1.5)],
        B: [pytest.approx(ALIVE + 4)],
    }
    assert list(w.kills) == [A]
    assert witness_of([]) == Witness(None, {}, {})


def _inspect(
    running: bool,
    started: str,
    finished: str = "0001-01-01T00:00:00Z",
    code: int = 0,
    health: dict[str, Any] | None = None,
) -> ContainerState:
    state: dict[str, Any] = {
        "Running": running,
        "StartedAt": started,
        "FinishedAt": finished,
        "ExitCode": code,
    }
    if health is not None:
        state["Health"] = health
    return state_from_inspect({"State": state})


def test_service_state_from_inspect_finds_when_health_first_passed() -> None:
    log = [
        {"Start": "2026-01-01T00:00:01Z", "End": "2026-01-01T00:00:01.1Z", "ExitCode": 1},
        {"Start": "2026-01-01T00:00:02Z", "End": "2026-01-01T00:00:02.1Z", "ExitCode": 0},
        {"Start": "2026-01-01T00:00:03Z", "End": "2026-01-01T00:00:03.1Z", "ExitCode": 0},
    ]
    info = _inspect(True, "2026-01-01T00:00:00Z", health={"Status": "healthy", "Log": log})
    s = service_state(ServiceId("p/db"), [info])
    assert s.good and s.has_healthcheck
    assert s.healthy_at == engine_time("2026-01-01T00:00:02.1Z")
    starting = _inspect(True, "2026-01-01T00:00:00Z", health={"Status": "starting", "Log": []})
    assert not service_state(ServiceId("p/db"), [starting]).healthy


def test_service_state_of_a_one_shot() -> None:
    done = _inspect(False, "2026-01-01T00:00:00Z", "2026-01-01T00:00:04Z", 0)
    failed = _inspect(False, "2026-01-01T00:00:00Z", "2026-01-01T00:00:04Z", 3)
    assert service_state(ServiceId("p/m"), [done]).completed
    s = service_state(ServiceId("p/m"), [done, failed])
    assert not s.completed and s.exit_codes == (0, 3)
    assert s.finished_at == engine_time("2026-01-01T00:00:04Z")


# --- the reconcile while a project recovers --------------------------------------------

DEFAULTS = PolicyDefaults(
    reset_after=600,
    backoff_max=3600,
    restarting_grace=60,
    crashloop_restarts=5,
    respect_manual_stop=False,
    episode_ttl=86400,
    condition_defaults={c: (300.0, 3) for c in Condition},
)
DB, MIGRATE, APP = ServiceId("p/db"), ServiceId("p/migrate"), ServiceId("p/app")
DEPENDS = {
    APP: "db:service_healthy:true,migrate:service_completed_successfully:false",
    MIGRATE: "db:service_healthy:false",
}


def _view(sid: ServiceId, state: str, code: int | None = None) -> ServiceView:
    project, service = sid.split("/")
    labels = {"com.docker.compose.depends_on": DEPENDS.get(sid, "")}
    c = ContainerView(
        id=ContainerId(service.ljust(64, "0")),
        name=f"{project}-{service}-1",
        project=project,
        service=service,
        number=1,
        state=state,
        health="healthy" if state == "running" else None,
        exit_code=code,
        labels=labels,
    )
    return ServiceView(sid, (c,), labels)


def test_a_recovering_project_is_left_to_the_recovery() -> None:
    views = {
        DB: _view(DB, "running"),
        MIGRATE: _view(MIGRATE, "exited", 0),
        APP: _view(APP, "exited", 137),  # held down by the recovery on purpose
    }
    snap = Snapshot(booting=frozenset({"p"}), was_down=frozenset({DB}))
    p = plan(views, snap, DEFAULTS, 1000.0)
    assert p.requests == []
    skipped = {(n.sid, n.reason) for n in p.notes if n.outcome == "skipped"}
    assert skipped == {
        (APP, SkipReason.BOOT_RECOVERY.value),
        (MIGRATE, SkipReason.COMPLETED.value),
    }
    assert p.effects is not None
    # db having been down before the recovery must not bounce app once it is over.
    assert p.effects.down_cleared == [DB]
    # Without the flag, app is started (its dependencies are fine).
    after = plan(views, replace(snap, booting=frozenset(), was_down=frozenset()), DEFAULTS, 1000.0)
    assert [(r.sid, r.condition) for r in after.requests] == [(APP, Condition.EXITED)]


def test_a_completed_one_shot_is_neither_down_nor_repaired() -> None:
    views = {
        DB: _view(DB, "running"),
        MIGRATE: _view(MIGRATE, "exited", 0),
        APP: _view(APP, "exited", 1),
    }
    assert dependency_view(views).down == {APP}
    p = plan(views, Snapshot(), DEFAULTS, 1000.0)
    assert [r.sid for r in p.requests] == [APP], "app is not held back by a finished migrate"
    assert (MIGRATE, SkipReason.COMPLETED.value) in [(n.sid, n.reason) for n in p.notes]
    failed = {**views, MIGRATE: _view(MIGRATE, "exited", 2)}
    assert MIGRATE in dependency_view(failed).down
    assert [r.sid for r in plan(failed, Snapshot(), DEFAULTS, 1000.0).requests] == [MIGRATE]
