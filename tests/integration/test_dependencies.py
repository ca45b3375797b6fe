"""Dependency awareness on a real compose project (db ← app ← worker), asserted on the order
of Docker's own events."""

from __future__ import annotations

from tests.support import (
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import HealerFactory


def _stack_yaml(image: str) -> str:
    return compose_yaml(
        healthy_service_yaml(image, "db"),
        healthy_service_yaml(
            image,
            "app",
            "depends_on:\n  db:\n    condition: service_healthy\n    restart: true",
        ),
        healthy_service_yaml(
            image,
            "worker",
            "depends_on:\n  app:\n    condition: service_started",
        ),
    )


def test_dependencies_are_repaired_first_and_dependents_wait_uncharged(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    project = compose_project(_stack_yaml(test_image), wait=True)
    rec = docker_events(project.name)
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="1")
    stack.worker()
    stack.events()
    stack.beat()
    for svc in ("db", "app", "worker"):
        project.container(svc).kill()
    db = rec.wait_for("start", "db", timeout=20)[0]
    db_ok = rec.wait_for("health_status: healthy", "db", timeout=20)[0]
    app = rec.wait_for("start", "app", timeout=20)[0]
    worker = rec.wait_for("start", "worker", timeout=20)[0]
    assert db["time_ns"] < db_ok["time_ns"] <= app["time_ns"] < worker["time_ns"], rec.describe()
    history = stack.history()
    waits = [e for e in history if e["reason"] == "waiting_dependency"]
    assert any("waiting for" in e["detail"] for e in waits), history
    status = stack.status()["services"]
    # waiting did not cost the dependents an attempt: one repair each
    assert status[f"{project.name}/app"]["attempts"] <= 1
    assert status[f"{project.name}/worker"]["attempts"] <= 1


def test_a_dependent_starts_within_seconds_of_its_dependency_turning_healthy(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    """app waits for db's health (`service_healthy`); db's `healthy` event lets it go at once.
    With a ten-minute WATCHDOG_INTERVAL and no beat, only the events path can start app."""
    project = compose_project(_stack_yaml(test_image), wait=True)
    rec = docker_events(project.name)
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="600")
    stack.worker()
    stack.events()
    for svc in ("db", "app"):
        project.container(svc).kill()
    db_ok = rec.wait_for("health_status: healthy", "db", timeout=30)[0]
    app = rec.wait_for("start", "app", timeout=30)[0]
    waited = (app["time_ns"] - db_ok["time_ns"]) / 1e9
    print(f"app started {waited:.1f}s after db turned healthy")
    assert 0 <= waited < 10, rec.describe()


def test_dependents_declaring_restart_true_are_restarted_after_the_dependency_heals(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    project = compose_project(_stack_yaml(test_image), wait=True)
    rec = docker_events(project.name)
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="1")
    stack.worker()
    stack.events()
    stack.beat()
    project.container("db").kill()
    db_ok = rec.wait_for("health_status: healthy", "db", timeout=20)[0]
    app_restart = rec.wait_for("restart", "app", timeout=20)[0]
    assert app_restart["time_ns"] > db_ok["time_ns"]
    # worker declared no `restart: true` on app: it is left alone
    assert not rec.events("restart", "worker")
    # The outcome is recorded once the restart call has returned, a moment after its events.
    wait_until(
        lambda: [
            e
            for e in stack.history("app")
            if e["condition"] == "dependency" and e["outcome"] == "acted"
        ],
        10,
        0.2,
        message="app's dependency restart in its history",
    )
