"""Ordered recovery after an engine restart: the pure planner, step by step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest

from healer.core.boot.plan import (
    BootRules,
    Progress,
    ServiceState,
    Step,
    boot_rules,
    step,
    targets_for,
)
from healer.core.deps import DependencyGraph
from healer.core.model import ServiceId

P = "shop"
DB, MIGRATE, APP, WORKER = (ServiceId(f"{P}/{n}") for n in ("db", "migrate", "app", "worker"))
BOOT = 1000.0  # engine time the engine came back


def graph(worker_restart: bool = False) -> DependencyGraph:
    flag = "true" if worker_restart else "false"
    return DependencyGraph.from_labels(
        {
            DB: {},
            MIGRATE: {"com.docker.compose.depends_on": "db:service_healthy:false"},
            APP: {
                "com.docker.compose.depends_on": (
                    "migrate:service_completed_successfully:false,db:service_healthy:true"
                )
            },
            WORKER: {"com.docker.compose.depends_on": f"app:service_healthy:{flag}"},
        }
    )


def up(
    sid: ServiceId, started: float, healthy_at: float | None = None, check: bool = True
) -> ServiceState:
    return ServiceState(
        sid,
        total=1,
        running=1,
        healthy=healthy_at is not None or not check,
        has_healthcheck=check,
        started_at=started,
        healthy_at=healthy_at,
    )


def down(
    sid: ServiceId, code: int = 0, finished: float = BOOT - 5, started: float = 0.0
) -> ServiceState:
    return ServiceState(
        sid,
        total=1,
        running=0,
        healthy=False,
        has_healthcheck=False,
        exit_codes=(code,),
        started_at=started,
        finished_at=finished,
    )


def rules(
    strict: frozenset[ServiceId] = frozenset(),
    timeout: float = 60,
    anyway: frozenset[ServiceId] = frozenset(),
    hands_off: frozenset[ServiceId] = frozenset(),
) -> dict[ServiceId, BootRules]:
    return {
        s: BootRules(timeout, s in strict, s in anyway, s in hands_off)
        for s in (DB, MIGRATE, APP, WORKER)
    }


class Recovery:
    """Drives `step` like the recovery task does, keeping the last `waiting`."""

    def __init__(self, g: DependencyGraph, r: Mapping[ServiceId, BootRules], t0: float = 0.0):
        self.g, self.r = g, r
        intended = {DB, APP, WORKER}
        self.p = Progress(t0=t0, targets=targets_for(g, intended))
        self.waiting: Mapping[ServiceId, object] = {}

    def __call__(self, states: Mapping[ServiceId, ServiceState], now: float) -> Step:
        result = step(self.g, states, self.r, self.p, now, self.waiting)  # type: ignore[arg-type]
        self.p, self.waiting = result.progress, result.waiting
        return result


def test_targets_are_the_intended_services_and_what_they_need() -> None:
    assert targets_for(graph(), {WORKER}) == {DB, MIGRATE, APP, WORKER}
    assert targets_for(graph(), {DB}) == {DB}


def test_three_tier_comes_back_in_compose_order() -> None:
    """The engine started db, app and worker at once; migrate had run before the restart."""
    rec = Recovery(graph(), rules(strict=frozenset({WORKER})))
    engine_started = {
        DB: up(DB, BOOT + 0.01),  # health: starting
        MIGRATE: down(MIGRATE),
        APP: up(APP, BOOT + 0.02, healthy_at=BOOT + 1),
        WORKER: up(WORKER, BOOT + 0.03, check=False),
    }
    first = rec(engine_started, now=1.0)
    # app declared restart: true on db; worker asked for it with healer.boot.order=strict.
    assert first.stop == (WORKER, APP)
    assert first.start == ()
    assert {s: (b.blocker, b.condition) for s, b in first.waiting.items()} == {
        MIGRATE: (DB, "service_healthy"),
        APP: (DB, "service_healthy"),
        WORKER: (APP, "service_healthy"),
    }
    assert not first.done

    held = {
        **engine_started,
        APP: down(APP, 137, BOOT + 1.1),
        WORKER: down(WORKER, 137, BOOT + 1.1),
    }
    assert rec(held, now=2.0).start == ()
    db_ok = {**held, DB: up(DB, BOOT + 0.01, healthy_at=BOOT + 4)}
    assert rec(db_ok, now=5.0).start == (MIGRATE,)

    # The previous run's exit 0 did not count; this one does, and only this one.
    ran = {**db_ok, MIGRATE: down(MIGRATE, 0, BOOT + 6, BOOT + 5)}
    assert rec(ran, now=7.0).start == (APP,)
    starting = {**ran, APP: up(APP, BOOT + 7)}
    assert rec(starting, now=8.0).start == ()
    healthy = {**starting, APP: up(APP, BOOT + 7, healthy_at=BOOT + 8.5)}
    assert rec(healthy, now=9.0).start == (WORKER,)
    last = rec({**healthy, WORKER: up(WORKER, BOOT + 9, check=False)}, now=10.0)
    assert last.done
    assert last.progress.order == (MIGRATE, APP, WORKER)
    assert last.progress.waited == {MIGRATE: 5.0, APP: 7.0, WORKER: 9.0}
    assert last.progress.held == frozenset()
    assert last.progress.stopped == {APP, WORKER}


def test_a_dependent_without_restart_true_is_left_running_as_compose_would() -> None:
    rec = Recovery(graph(), rules())
    states = {
        DB: up(DB, BOOT, healthy_at=BOOT + 4),
        MIGRATE: down(MIGRATE, 0, BOOT + 6, BOOT + 5),
        APP: up(APP, BOOT + 7, healthy_at=BOOT + 8),
        WORKER: up(WORKER, BOOT, check=False),  # before app was healthy, but no restart: true
    }
    rec.p = replace(rec.p, ready={DB: 0.0}, started={MIGRATE: 5.0, APP: 7.0})
    result = rec(states, now=10.0)
    assert WORKER not in result.stop
    assert result.done


def test_worker_with_restart_true_is_stopped_without_any_label() -> None:
    rec = Recovery(graph(worker_restart=True), rules())
    states = {
        DB: up(DB, BOOT + 0.01),
        MIGRATE: down(MIGRATE),
        APP: up(APP, BOOT + 0.02, healthy_at=BOOT + 1),
        WORKER: up(WORKER, BOOT + 0.03, check=False),
    }
    assert rec(states, now=1.0).stop == (WORKER, APP)


def test_a_dependent_that_started_after_its_dependency_was_healthy_is_kept() -> None:
    rec = Recovery(graph(), rules())
    states = {
        DB: up(DB, BOOT, healthy_at=BOOT + 2),
        MIGRATE: down(MIGRATE, 0, BOOT + 4, BOOT + 3),
        APP: up(APP, BOOT + 5, healthy_at=BOOT + 6),
        WORKER: up(WORKER, BOOT + 7, check=False),
    }
    # migrate ran after the restart (the engine restarted it): it completed before app.
    rec.p = replace(rec.p, started={MIGRATE: 0.0})
    result = rec(states, now=8.0)
    assert result.stop == () and result.start == ()
    assert result.done


def test_down_after_the_restart_is_started_in_topological_order() -> None:
    """restart: "no" everywhere: nothing came back by itself."""
    rec = Recovery(graph(), rules())
    all_down = {s: down(s, 137, BOOT - 1, BOOT - 100) for s in (DB, APP, WORKER)}
    all_down[MIGRATE] = down(MIGRATE)
    assert rec(all_down, now=1.0).start == (DB,)
    assert rec({**all_down, DB: up(DB, BOOT + 1)}, now=2.0).start == ()


def test_a_timeout_names_the_blocking_dependency_and_leaves_the_dependent_down() -> None:
    rec = Recovery(graph(), rules(timeout=30))
    states = {
        DB: up(DB, BOOT),  # never healthy
        MIGRATE: down(MIGRATE),
        APP: down(APP, 137, BOOT + 1),
        WORKER: down(WORKER, 137, BOOT + 1),
    }
    assert rec(states, now=10.0).timeouts == ()
    result = rec(states, now=31.0)
    blocked = {b.sid: (b.blocker, b.condition) for b in result.timeouts}
    assert blocked[APP] == (DB, "service_healthy")
    assert blocked[MIGRATE] == (DB, "service_healthy")
    assert result.start == ()
    assert rec(states, now=32.0).timeouts == (), "each timeout is reported once"
    assert result.progress.failed[DB] == "not healthy within 30s"


def test_start_anyway_starts_the_dependent_when_its_wait_times_out() -> None:
    rec = Recovery(graph(), rules(timeout=30, anyway=frozenset({APP})))
    states = {
        DB: up(DB, BOOT),
        MIGRATE: down(MIGRATE),
        APP: down(APP, 137, BOOT + 1),
        WORKER: down(WORKER, 137, BOOT + 1),
    }
    result = rec(states, now=31.0)
    assert APP in result.start
    assert APP in result.progress.timed_out


def test_a_failed_one_shot_blocks_its_dependent_at_once() -> None:
    rec = Recovery(graph(), rules(timeout=300))
    rec.p = replace(rec.p, started={MIGRATE: 5.0}, ready={DB: 4.0})
    states = {
        DB: up(DB, BOOT, healthy_at=BOOT + 3),
        MIGRATE: down(MIGRATE, 1, BOOT + 6, BOOT + 5),
        APP: down(APP, 137, BOOT + 1),
        WORKER: down(WORKER, 137, BOOT + 1),
    }
    result = rec(states, now=7.0)
    assert result.progress.failed[MIGRATE] == "exited with code 1"
    assert [(b.sid, b.blocker) for b in result.timeouts] == [(APP, MIGRATE)]
    assert result.start == ()


def test_a_one_shot_already_running_is_waited_for_never_started_twice() -> None:
    rec = Recovery(graph(), rules())
    states = {
        DB: up(DB, BOOT, healthy_at=BOOT + 1),
        MIGRATE: up(MIGRATE, BOOT + 2, check=False),
        APP: down(APP, 137, BOOT - 1),
        WORKER: down(WORKER, 137, BOOT - 1),
    }
    first = rec(states, now=3.0)
    assert MIGRATE not in first.start and APP not in first.start
    exited = {**states, MIGRATE: down(MIGRATE, 0, BOOT + 4, BOOT + 2)}
    second = rec(exited, now=5.0)
    assert second.start == (APP,)
    assert MIGRATE not in second.progress.order


def test_hands_off_services_are_waited_on_but_never_touched() -> None:
    rec = Recovery(graph(), rules(hands_off=frozenset({APP, MIGRATE})))
    states = {
        DB: up(DB, BOOT),
        MIGRATE: down(MIGRATE, 0),  # its old exit 0 counts: the healer may not run it
        APP: up(APP, BOOT),  # out of order (db is not healthy) but hands off; starting
        WORKER: down(WORKER, 137, BOOT - 1),
    }
    result = rec(states, now=1.0)
    assert result.stop == () and result.start == ()
    assert result.waiting[WORKER].blocker == APP
    healthy = {**states, APP: up(APP, BOOT, healthy_at=BOOT + 2)}
    assert rec(healthy, now=3.0).start == (WORKER,)


def test_a_dependency_without_a_healthcheck_counts_as_healthy_once_running() -> None:
    rec = Recovery(graph(), rules())
    states = {
        DB: up(DB, BOOT, check=False),
        MIGRATE: down(MIGRATE),
        APP: down(APP, 137, BOOT - 1),
        WORKER: down(WORKER, 137, BOOT - 1),
    }
    assert rec(states, now=1.0).start == (MIGRATE,)


@pytest.mark.parametrize(
    ("labels", "expected", "problems"),
    [
        ({}, BootRules(300.0), 0),
        (
            {
                "healer.boot.order": "strict",
                "healer.boot.timeout": "2m",
                "healer.boot.start_anyway": "true",
            },
            BootRules(120.0, True, True),
            0,
        ),
        ({"healer.boot.order": "sometimes"}, BootRules(300.0), 1),
        ({"healer.boot.timeout": "-5"}, BootRules(300.0), 1),
        ({"healer.boot.timeout": "soon"}, BootRules(300.0), 1),
        ({"healer.boot.start_anyway": "maybe"}, BootRules(300.0), 1),
    ],
)
def test_boot_labels(labels: dict[str, str], expected: BootRules, problems: int) -> None:
    got = boot_rules(labels, 300.0, hands_off=False)
    assert replace(got, problems=()) == expected
    assert len(got.problems) == problems


def test_the_boot_record_tells_order_waits_and_total_time() -> None:
    from healer.core.boot.plan import Blocked
    from healer.core.boot.report import status_record, summary

    p = Progress(
        t0=0.0,
        targets=frozenset({DB, MIGRATE, APP}),
        stopped=frozenset({APP}),
        started={MIGRATE: 4.0, APP: 6.0},
        waited={MIGRATE: 4.0, APP: 6.0},
        order=(MIGRATE, APP),
    )
    waits = {
        MIGRATE: [Blocked(MIGRATE, DB, "service_healthy", 0.5)],
        APP: [
            Blocked(APP, DB, "service_healthy", 0.5),
            Blocked(APP, MIGRATE, "service_completed_successfully", 4.0),
        ],
    }
    done = Step((), (), (), {}, p, True)
    text, extra = summary(p, waits, 7.25, done)
    assert text == (
        "order: shop/migrate → shop/app; stopped as started out of order: shop/app; "
        "shop/migrate waited 4.0s for shop/db service_healthy; shop/app waited 6.0s for "
        "shop/db service_healthy, shop/migrate service_completed_successfully; "
        "healthy after 7.2s"
    )
    assert extra["total_seconds"] == "7.250"
    running = Step((), (), (), {APP: waits[APP][1]}, p, False)
    status = status_record("shop", "engine restart", "running", running, p, 5.0)
    assert status["waiting"] == {
        APP: {"for": MIGRATE, "condition": "service_completed_successfully", "seconds": 1.0}
    }
    assert "still waiting: shop/app" in summary(p, waits, 900.0, running)[0]


def test_status_prints_a_running_recovery(capsys: pytest.CaptureFixture[str]) -> None:
    from healer.cli import _print_recoveries

    _print_recoveries(
        {
            "shop": {
                "state": "running",
                "elapsed": 3.5,
                "started": [DB],
                "held": [APP],
                "waiting": {APP: {"for": DB, "condition": "service_healthy", "seconds": 3.1}},
            },
            "blog": {"state": "done", "elapsed": 12.0},
        }
    )
    out = capsys.readouterr().out
    assert "RECOVERING shop after an engine restart (3.5s so far); started: shop/db" in out
    assert "shop/app waits for shop/db (service_healthy) since 3.1s" in out
    assert "shop/app held down until its dependencies are ready" in out
    assert "last ordered recovery of blog: done in 12.0s" in out
