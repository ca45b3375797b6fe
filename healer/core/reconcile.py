"""One probe cycle, decided purely: from (Docker views, Redis snapshot, settings, now) to the
repair requests to enqueue, the decisions to record and the state to write back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from healer.core.deps import DependencyGraph
from healer.core.labels import ServiceLabels, parse_service_labels
from healer.core.model import (
    Action,
    Condition,
    Finding,
    Outcome,
    RepairRequest,
    ServiceId,
    ServiceView,
    SkipReason,
    Source,
)
from healer.core.observed import ProbeEffects, Snapshot
from healer.core.repair.backoff import (
    Episode,
    RestartPolicy,
    Verdict,
    cooldown_remaining,
    decide,
    episode_over,
)
from healer.core.repair.conditions import (
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
    # Label keys the healer reads besides its own (HEALER_LABEL_SELECTOR's): not bad labels.
    own_labels: frozenset[str] = frozenset()

    def restart_policy(self, labels: ServiceLabels, condition: Condition) -> RestartPolicy:
        cooldown, attempts = self.condition_defaults[condition]
        return RestartPolicy(
            cooldown=labels.cooldown(condition, cooldown),
            max_attempts=labels.max_attempts(condition, attempts),
            backoff_max=self.backoff_max,
            reset_after=self.reset_after,
            # keep_trying: retry at the backoff cap for ever, as CrashLoopBackOff does.
            quarantines=condition != Condition.MANUAL and not labels.keeps_trying(condition),
        )


@dataclass(frozen=True)
class Note:
    """A decision to record. `once` marks repeatable skips the history should not repeat."""

    sid: ServiceId
    outcome: Outcome
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
    source: Source = Source.PROBE,
    extra: Sequence[Finding] = (),
) -> Plan:
    """`extra` carries findings observed outside the list call (sustained resource use)."""
    effects = ProbeEffects(
        healthy_ttl=int(2 * d.reset_after + 86400), episode_ttl=int(d.episode_ttl)
    )
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
    cycle = _Cycle(snap, d, ctx, source, deps, Plan(effects=effects), effects)
    for view in views.values():
        cycle.plan_service(view, by_service.get(view.sid, []))
    cycle.restart_dependents(views)
    out = cycle.out
    order = {sid: i for i, sid in enumerate(deps.graph.repair_order(views))}
    # Dependencies first: a dependent repaired before its database would just fail again.
    out.requests.sort(key=lambda r: order.get(r.sid, len(order)))
    return out


def related_views(
    views: dict[ServiceId, ServiceView], sid: ServiceId
) -> dict[ServiceId, ServiceView]:
    """What a probe of one service plans: the services connected to it by dependencies
    (DependencyGraph.connected), the only ones whose state can change what may be done for
    it, or that a repair of it can change. The rest of the project is left to its own events
    and to the reconcile: in a mass failure of N services, N probes that each read and
    planned the whole project would cost the worker N² state reads (at 100 services, 100
    probes of about 1,700 Redis commands each)."""
    related = dependency_view(views).graph.connected(sid)
    return {s: v for s, v in views.items() if s in related}


@dataclass(frozen=True)
class Dependencies:
    graph: DependencyGraph
    down: frozenset[ServiceId]
    # Up but not healthy yet (`health: starting`), and awaited with `service_healthy`: its
    # dependents still wait for it, as `docker compose up` would. Not down: its coming back
    # healthy is no bounce of its dependents by itself.
    not_ready: frozenset[ServiceId] = frozenset()


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
    not_ready = frozenset(
        sid
        for sid, v in views.items()
        if sid not in down
        and graph.is_awaited_healthy(sid)
        and not any(is_good(c) for c in v.containers)
    )
    return Dependencies(graph, down, not_ready)


def completed_one_shot(view: ServiceView, graph: DependencyGraph) -> bool:
    """A service others wait for with ``service_completed_successfully`` (a migration, an
    init job) whose containers all exited 0: it did its job; starting it again is not a
    repair, and it blocks nobody."""
    return (
        graph.is_one_shot(view.sid)
        and bool(view.containers)
        and all(c.state in ("exited", "dead") and c.exit_code == 0 for c in view.containers)
    )


@dataclass(frozen=True)
class _Cycle:
    """What one probe cycle decides with, said once; its methods fill `out` and `effects`."""

    snap: Snapshot
    d: PolicyDefaults
    ctx: DetectContext
    source: Source
    deps: Dependencies
    out: Plan
    effects: ProbeEffects

    def plan_service(self, view: ServiceView, extra: list[Finding]) -> None:
        sid = view.sid
        labels = parse_service_labels(view.labels, own=self.d.own_labels)
        for problem in labels.problems:
            self.out.notes.append(
                Note(sid, Outcome.INFO, reason="bad label", detail=problem, once=True)
            )
        now = self.ctx.now
        _track_restarting(view, self.snap, now, self.effects)
        reset = _track_health(view, self.snap, self.d, now, self.effects, self.out)
        episodes = {} if reset else {c: e for (s, c), e in self.snap.episodes.items() if s == sid}
        findings = detect(view, self.ctx) + extra
        for f in findings:
            self._gate(view, _without_manual_stops(f, self.snap, self.ctx), labels, episodes)
        self.effects.snapshots[sid] = _snapshot(view, labels, self.snap, self.d, now, episodes)

    def _gate(
        self,
        view: ServiceView,
        f: Finding,
        labels: ServiceLabels,
        episodes: dict[Condition, Episode],
    ) -> None:
        """One finding: skipped (with why), held for a dependency or a backoff, or a request."""
        sid = view.sid
        skip = _skip_reason(view, f, labels, self.snap, self.ctx)
        if skip is None and f.condition == Condition.EXITED:
            skip = SkipReason.COMPLETED.value if completed_one_shot(view, self.deps.graph) else None
        if skip is None and self.snap.is_booting(sid):
            skip = SkipReason.BOOT_RECOVERY.value
        if skip is not None:
            self._skip(f, sid, skip, f.detail)
            return
        waited_for = (self.deps.down | self.deps.not_ready) - {sid}
        blocker = self.deps.graph.blocking_dependency(sid, waited_for)
        if blocker is not None:
            # Its failure is the dependency's fault: wait, and do not charge its attempts.
            self._skip(f, sid, SkipReason.WAITING_DEPENDENCY.value, f"waiting for {blocker}")
            return
        episode = episodes.get(f.condition, Episode())
        verdict = decide(self.d.restart_policy(labels, f.condition), episode, self.ctx.now)
        if verdict.verdict in (Verdict.WAIT, Verdict.QUARANTINED):
            self.effects.refresh_episodes.append((sid, f.condition))
            if verdict.verdict == Verdict.WAIT:
                waits = self.out.reprobes
                waits[sid] = min(waits.get(sid, verdict.retry_after), verdict.retry_after)
            reason = (
                SkipReason.QUARANTINED
                if verdict.verdict == Verdict.QUARANTINED
                else (SkipReason.BACKOFF if episode.attempts > 1 else SkipReason.COOLDOWN)
            )
            self._skip(f, sid, reason.value, verdict.reason)
            return
        self.out.requests.append(
            RepairRequest(sid, f.condition, f.action, f.container_ids, f.detail, self.source)
        )

    def _skip(self, f: Finding, sid: ServiceId, reason: str, detail: str) -> None:
        self.out.notes.append(
            Note(sid, Outcome.SKIPPED, f.condition, f.action, reason, detail, True)
        )

    def restart_dependents(self, views: dict[ServiceId, ServiceView]) -> None:
        """A dependency that was down and is good again: bounce the dependents that asked
        for it (`restart: true`) and those living in its network namespace."""
        snap, deps, effects = self.snap, self.deps, self.effects
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
                # Docker joins `container:`/`service:` namespaces at start, so a restart
                # re-attaches a namespace sharer to the restarted owner (same container id).
                detail = f"{sid} is healthy again" + (
                    f"; re-joins {sid}'s network namespace" if how == "recreate" else ""
                )
                self.out.requests.append(
                    RepairRequest(
                        dependent, Condition.DEPENDENCY, Action.RESTART, (), detail, self.source
                    )
                )


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
        out.notes.append(
            Note(sid, Outcome.RESET, reason=reason, detail=f"healthy since {since:.0f}")
        )
        return True
    return False


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
    if labels.opted_out or not labels.enabled(f.condition):
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
