"""Observe → decide, purely: which conditions a service shows and what status it reports.

Inputs are what one Docker list call and one Redis pipeline gave; no I/O happens here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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

CONDITION_ACTION: dict[Condition, Action] = {
    Condition.UNHEALTHY: Action.RESTART,
    Condition.EXITED: Action.START,
    Condition.RESTARTING: Action.STOP_START,
    Condition.MEMORY: Action.RESTART,
    Condition.CPU: Action.RESTART,
    Condition.NETWORK: Action.RESTART,
    Condition.DISK: Action.CLEANUP,
    Condition.ALERT: Action.RESTART,
    Condition.MANUAL: Action.RESTART,
    Condition.DEPENDENCY: Action.RESTART,
}

DOWN_STATES = frozenset({"exited", "dead"})


@dataclass(frozen=True)
class DetectContext:
    now: float
    restarting_grace: float
    crashloop_restarts: int
    restarting_since: Mapping[ContainerId, float] = field(default_factory=dict)
    recent_dies: Mapping[ServiceId, int] = field(default_factory=dict)
    manual_stops: frozenset[ContainerId] = frozenset()
    respect_manual_stop: bool = False


# A container compose (or `docker create`) made but never started: compose starts each one
# within seconds, or once its dependencies are ready; longer than the grace, its start failed.
CREATED = "created"


def detect(view: ServiceView, ctx: DetectContext) -> list[Finding]:
    """Findings for one service, one per condition, listing the containers that show it."""
    by_condition: dict[Condition, list[ContainerView]] = {}
    details: dict[Condition, list[str]] = {}
    crashlooping = ctx.recent_dies.get(view.sid, 0) >= ctx.crashloop_restarts
    for c in view.containers:
        found = _container_condition(c, ctx, crashlooping)
        if found is None:
            continue
        condition, detail = found
        by_condition.setdefault(condition, []).append(c)
        details.setdefault(condition, []).append(f"{c.name}: {detail}")
    return [
        Finding(
            sid=view.sid,
            condition=cond,
            action=CONDITION_ACTION[cond],
            container_ids=tuple(c.id for c in cs),
            detail="; ".join(details[cond]),
        )
        for cond, cs in sorted(by_condition.items())
    ]


def _container_condition(
    c: ContainerView, ctx: DetectContext, crashlooping: bool
) -> tuple[Condition, str] | None:
    if c.state in DOWN_STATES:
        # A hand-stopped container is still a finding; the planner records why it is left.
        return Condition.EXITED, f"{c.state} (exit code {c.exit_code})"
    if c.state == "restarting":
        since = ctx.restarting_since.get(c.id)
        if since is not None and ctx.now - since >= ctx.restarting_grace:
            return Condition.RESTARTING, f"restarting for {ctx.now - since:.0f}s"
        if crashlooping:
            return Condition.RESTARTING, "crash loop: engine keeps restarting it"
        return None
    if c.state == CREATED and c.created and ctx.now - c.created >= ctx.restarting_grace:
        return Condition.EXITED, f"created {ctx.now - c.created:.0f}s ago and never started"
    if c.state == "running" and c.health == "unhealthy":
        return Condition.UNHEALTHY, "healthcheck failing"
    if c.state == "running" and crashlooping:
        return Condition.RESTARTING, "crash loop: engine keeps restarting it"
    return None


def manually_stopped(view: ServiceView, ctx: DetectContext) -> bool:
    """Every down container of the service was stopped by hand (and that is respected)."""
    down = [c for c in view.containers if c.state in DOWN_STATES]
    return ctx.respect_manual_stop and bool(down) and all(c.id in ctx.manual_stops for c in down)


def service_status(
    view: ServiceView, *, quarantined: bool, paused: bool, opted_out: bool
) -> HealthStatus:
    """One status per service for `service_health_status` and `healer status`."""
    if quarantined:
        return HealthStatus.QUARANTINED
    if paused:
        return HealthStatus.PAUSED
    if opted_out:
        return HealthStatus.OPTED_OUT
    return container_status_rollup(view.containers)


def container_status_rollup(containers: tuple[ContainerView, ...]) -> HealthStatus:
    if not containers:
        return HealthStatus.UNKNOWN
    states = [container_status(c) for c in containers]
    for worst in (
        HealthStatus.EXITED,
        HealthStatus.RESTARTING,
        HealthStatus.UNHEALTHY,
        HealthStatus.STARTING,
    ):
        if worst in states:
            return worst
    return (
        HealthStatus.HEALTHY
        if all(s == HealthStatus.HEALTHY for s in states)
        else (HealthStatus.UNKNOWN)
    )


def container_status(c: ContainerView) -> HealthStatus:
    if c.state in DOWN_STATES:
        return HealthStatus.EXITED
    if c.state == "restarting":
        return HealthStatus.RESTARTING
    if c.state == "running":
        if c.health == "unhealthy":
            return HealthStatus.UNHEALTHY
        if c.health == "starting":
            return HealthStatus.STARTING
        return HealthStatus.HEALTHY
    if c.state == "created":
        return HealthStatus.STARTING
    return HealthStatus.UNKNOWN


def is_down(view: ServiceView) -> bool:
    """Down: no container of it is up, healthy or with its healthcheck still starting.
    (Dependents that wait for its health also wait while it starts: the planner's
    ``Dependencies.not_ready``.)"""
    return not any(
        container_status(c) in (HealthStatus.HEALTHY, HealthStatus.STARTING)
        for c in view.containers
    )


def is_good(c: ContainerView) -> bool:
    return container_status(c) == HealthStatus.HEALTHY


def still_failing(
    condition: Condition,
    state: str,
    health: str | None,
    restarting: bool,
    engine_restarts: bool = False,
) -> bool:
    """Re-check a probe's finding against a fresh inspect right before acting.

    `engine_restarts`: the engine's restart policy has restarted the container (its
    RestartCount is climbing) — a crash loop, even if it happens to be running right now."""
    if condition == Condition.EXITED:
        return state in DOWN_STATES or state == CREATED
    if condition == Condition.UNHEALTHY:
        return state == "running" and health == "unhealthy"
    if condition == Condition.RESTARTING:
        return restarting or state == "restarting" or (state == "running" and engine_restarts)
    return True
