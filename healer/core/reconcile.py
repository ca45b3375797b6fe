"""One probe cycle, decided purely: from (Docker views, Redis snapshot, settings, now) to the
repair requests to enqueue, the decisions to record and the state to write back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from healer.core.backoff import (
    Episode,
    RestartPolicy,
    Verdict,
    cooldown_remaining,
    decide,
    episode_over,
)
from healer.core.deps import DependencyGraph
from healer.core.labels import ServiceLabels, parse_service_labels
from healer.core.model import (
    Action,
    Condition,
    Finding,
    RepairRequest,
    ServiceId,
    ServiceView,
    SkipReason,
)
from healer.core.observed import ProbeEffects, Snapshot
from healer.core.policy import (
    DetectContext,
    detect,
    is_down,
    is_good,
    manually_stopped,
    service_status,
)


@dataclass(frozen=True)
class PolicyDefaults:
    """The slice of Settings the planner needs, so this module stays free of pydantic."""

    reset_after: float
    backoff_max: float
    restarting_grace: float
    crashloop_restarts: int
    respect_manual_stop: bool
    episode_ttl: float
    condition_defaults: dict[Condition, tuple[float, int]]

    def restart_policy(self, labels: ServiceLabels, condition: Condition) -> RestartPolicy:
        cooldown, attempts = self.condition_defaults[condition]
        return RestartPolicy(
            cooldown=labels.cooldown(condition, cooldown),
            max_attempts=labels.max_attempts(condition, attempts),
            backoff_max=self.backoff_max,
            reset_after=self.reset_after,
            quarantines=condition != Condition.MANUAL,
        )


@dataclass(frozen=True)
class Note:
    """A decision to record. `once` marks repeatable skips the history should not repeat."""

    sid: ServiceId
    outcome: str
    condition: str = ""
    action: str = ""
    reason: str = ""
    detail: str = ""
    once: bool = False


@dataclass
class Plan:
    requests: list[RepairRequest] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    # Services waiting out a cooldown/backoff, with the seconds until they may act: the
    # probe schedules a re-check then instead of waiting for the next reconcile.
    reprobes: dict[ServiceId, float] = field(default_factory=dict)
    effects: ProbeEffects | None = None


def plan(
    views: dict[ServiceId, ServiceView],
    snap: Snapshot,
    d: PolicyDefaults,
    now: float,
    source: str = "probe",
    extra: Sequence[Finding] = (),
) -> Plan:
    """`extra` carries findings observed outside the list call (sustained resource use)."""
    effects = ProbeEffects(
        healthy_ttl=int(2 * d.reset_after + 86400), episode_ttl=int(d.episode_ttl)
    )
    out = Plan(effects=effects)
    ctx = DetectContext(
        now=now,
        restarting_grace=d.restarting_grace,
        crashloop_restarts=d.crashloop_restarts,
        restarting_since=snap.restarting_since,
        recent_dies=snap.recent_dies,
        manual_stops=snap.manual_stops,
        respect_manual_stop=d.respect_manual_stop,
    )
    by_service: dict[ServiceId, list[Finding]] = {}
    for f in extra:
        by_service.setdefault(f.sid, []).append(f)
    deps = dependency_view(views)
    for view in views.values():
        _plan_service(view, snap, d, ctx, out, effects, source, by_service.get(view.sid, []), deps)
    _restart_dependents(views, snap, deps, out, effects, source)
    order = {sid: i for i, sid in enumerate(deps.graph.repair_order(views))}
    # Dependencies first: a dependent repaired before its database would just fail again.
    out.requests.sort(key=lambda r: order.get(r.sid, len(order)))
    return out


@dataclass(frozen=True)
class Dependencies:
    graph: DependencyGraph
    down: frozenset[ServiceId]


def dependency_view(views: dict[ServiceId, ServiceView]) -> Dependencies:
    labels: dict[str, dict[str, str]] = {sid: v.labels for sid, v in views.items()}
    modes: dict[str, str] = {
        sid: v.containers[0].network_mode for sid, v in views.items() if v.containers
    }
    names = {key: sid for sid, v in views.items() for c in v.containers for key in (c.id, c.name)}
    graph = DependencyGraph.from_labels(labels, modes, names)
    down = frozenset(
        sid for sid, v in views.items() if is_down(v) and not completed_one_shot(v, graph)
    )
    return Dependencies(graph, down)


def completed_one_shot(view: ServiceView, graph: DependencyGraph) -> bool:
    """A service others wait for with ``service_completed_successfully`` (a migration, an
    init job) whose containers all exited 0: it did its job; starting it again is not a
    repair, and it blocks nobody."""
    return (
        graph.is_one_shot(view.sid)
        and bool(view.containers)
        and all(c.state in ("exited", "dead") and c.exit_code == 0 for c in view.containers)
    )


def _restart_dependents(
    views: dict[ServiceId, ServiceView],
    snap: Snapshot,
    deps: Dependencies,
    out: Plan,
    effects: ProbeEffects,
    source: str,
) -> None:
    """A dependency that was down and is good again: bounce the dependents that asked for
    it (`restart: true`) and those living in its network namespace."""
    for sid in views:
        if snap.is_booting(sid):
            # The recovery orders this project; what was down before it is its business.
            effects.down_cleared.extend([sid] if sid in snap.was_down else [])
            continue
        if sid in deps.down:
            if sid not in snap.was_down:
                effects.down_seen.append(sid)
            continue
        if sid not in snap.was_down or not all(is_good(c) for c in views[sid].containers):
            continue
        effects.down_cleared.append(sid)
        for dependent, how in deps.graph.dependents_to_restart(sid):
            if dependent not in views or dependent in deps.down:
                continue
            # Docker joins `container:`/`service:` namespaces at start, so a restart re-attaches
            # a namespace sharer to the restarted owner (same container id).
            detail = f"{sid} is healthy again" + (
                f"; re-joins {sid}'s network namespace" if how == "recreate" else ""
            )
            out.requests.append(
                RepairRequest(dependent, Condition.DEPENDENCY, Action.RESTART, (), detail, source)
            )


def _plan_service(
    view: ServiceView,
    snap: Snapshot,
    d: PolicyDefaults,
    ctx: DetectContext,
    out: Plan,
    effects: ProbeEffects,
    source: str,
    extra: list[Finding],
    deps: Dependencies,
) -> None:
    sid = view.sid
    labels = parse_service_labels(view.labels)
    for problem in labels.problems:
        out.notes.append(Note(sid, "info", reason="bad label", detail=problem, once=True))
    _track_restarting(view, snap, ctx.now, effects)
    reset = _track_health(view, snap, d, ctx.now, effects, out)
    episodes = {} if reset else {c: e for (s, c), e in snap.episodes.items() if s == sid}
    findings = detect(view, ctx) + extra
    _gate_findings(view, findings, labels, snap, d, ctx, episodes, out, effects, source, deps)
    effects.snapshots[sid] = _snapshot(view, labels, snap, d, ctx.now, episodes)


def _track_restarting(view: ServiceView, snap: Snapshot, now: float, eff: ProbeEffects) -> None:
    for c in view.containers:
        if c.state == "restarting":
            eff.restarting_seen[c.id] = now
        elif c.id in snap.restarting_since:
            eff.restarting_cleared.append(c.id)


def _track_health(
    view: ServiceView,
    snap: Snapshot,
    d: PolicyDefaults,
    now: float,
    eff: ProbeEffects,
    out: Plan,
) -> bool:
    """Maintain `healthy_since`; end the episodes once health has held for reset_after."""
    sid = view.sid
    if not view.containers or not all(is_good(c) for c in view.containers):
        if sid in snap.healthy_since:
            eff.healthy_cleared.append(sid)
        return False
    since = snap.healthy_since.get(sid)
    if since is None:
        eff.healthy_seen[sid] = now
        return False
    episodes = [e for (s, _), e in snap.episodes.items() if s == sid]
    # Health only counts from the last repair on: an operator or alert repair of a service
    # Docker calls healthy must not end its own episode.
    last = max((e.last_repair_at or 0.0 for e in episodes), default=0.0)
    policy = RestartPolicy(1, 1, d.backoff_max, d.reset_after)
    if episodes and episode_over(policy, max(since, last), now):
        eff.reset_services.append(sid)
        was_q = snap.quarantined(sid)
        reason = "healthy for reset_after" + ("; quarantine lifted" if was_q else "")
        out.notes.append(Note(sid, "reset", reason=reason, detail=f"healthy since {since:.0f}"))
        return True
    return False


def _gate_findings(
    view: ServiceView,
    findings: list[Finding],
    labels: ServiceLabels,
    snap: Snapshot,
    d: PolicyDefaults,
    ctx: DetectContext,
    episodes: dict[Condition, Episode],
    out: Plan,
    effects: ProbeEffects,
    source: str,
    deps: Dependencies,
) -> None:
    sid = view.sid
    for f in findings:
        f = _without_manual_stops(f, snap, ctx)
        skip = _skip_reason(view, f, labels, snap, ctx)
        if (
            skip is None
            and f.condition == Condition.EXITED
            and completed_one_shot(view, deps.graph)
        ):
            skip = SkipReason.COMPLETED.value
        if skip is None and snap.is_booting(sid):
            skip = SkipReason.BOOT_RECOVERY.value
        if skip is not None:
            out.notes.append(Note(sid, "skipped", f.condition, f.action, skip, f.detail, True))
            continue
        blocker = deps.graph.blocking_dependency(sid, deps.down - {sid})
        if blocker is not None:
            # Its failure is the dependency's fault: wait, and do not charge its attempts.
            out.notes.append(
                Note(
                    sid,
                    "skipped",
                    f.condition,
                    f.action,
                    SkipReason.WAITING_DEPENDENCY.value,
                    f"waiting for {blocker}",
                    True,
                )
            )
            continue
        episode = episodes.get(f.condition, Episode())
        verdict = decide(d.restart_policy(labels, f.condition), episode, ctx.now)
        if verdict.verdict in (Verdict.WAIT, Verdict.QUARANTINED):
            effects.refresh_episodes.append((sid, f.condition))
            if verdict.verdict == Verdict.WAIT:
                out.reprobes[sid] = min(
                    out.reprobes.get(sid, verdict.retry_after), verdict.retry_after
                )
            reason = (
                SkipReason.QUARANTINED
                if verdict.verdict == Verdict.QUARANTINED
                else (SkipReason.BACKOFF if episode.attempts > 1 else SkipReason.COOLDOWN)
            )
            out.notes.append(
                Note(sid, "skipped", f.condition, f.action, reason.value, verdict.reason, True)
            )
            continue
        out.requests.append(
            RepairRequest(sid, f.condition, f.action, f.container_ids, f.detail, source)
        )


def _without_manual_stops(f: Finding, snap: Snapshot, ctx: DetectContext) -> Finding:
    """With HEALER_RESPECT_MANUAL_STOP, hand-stopped replicas stay down while a crashed
    sibling is still started."""
    if f.condition != Condition.EXITED or not ctx.respect_manual_stop:
        return f
    kept = tuple(c for c in f.container_ids if c not in snap.manual_stops)
    return f if len(kept) in (0, len(f.container_ids)) else replace(f, container_ids=kept)


def _skip_reason(
    view: ServiceView, f: Finding, labels: ServiceLabels, snap: Snapshot, ctx: DetectContext
) -> str | None:
    if labels.opted_out:
        return SkipReason.OPTED_OUT.value
    if snap.is_paused(view.sid):
        return SkipReason.PAUSED.value
    if f.condition == Condition.EXITED and manually_stopped(view, ctx):
        return SkipReason.MANUAL_STOP.value
    return None


def _snapshot(
    view: ServiceView,
    labels: ServiceLabels,
    snap: Snapshot,
    d: PolicyDefaults,
    now: float,
    episodes: dict[Condition, Episode],
) -> dict[str, object]:
    quarantined = any(e.quarantined for e in episodes.values())
    status = service_status(
        view,
        quarantined=quarantined,
        paused=snap.is_paused(view.sid),
        opted_out=labels.opted_out,
    )
    cooldowns = {
        c.value: round(cooldown_remaining(d.restart_policy(labels, c), e, now), 1)
        for c, e in episodes.items()
    }
    return {
        "service": view.sid,
        "status": status.value,
        "containers": [
            {
                "name": c.name,
                "id": c.id[:12],
                "state": c.state,
                "health": c.health,
                "exit_code": c.exit_code,
            }
            for c in view.containers
        ],
        "attempts": sum(e.attempts for e in episodes.values()),
        "episodes": {c.value: e.attempts for c, e in episodes.items()},
        "cooldown_remaining": cooldowns,
        "quarantined": quarantined,
        "paused": snap.is_paused(view.sid),
        "opted_out": labels.opted_out,
        "problems": list(labels.problems),
        "observed_at": now,
    }
