"""Ordered recovery after an engine restart: what to stop, start or wait for next. Pure.

Docker's restart policy starts every container at once when the engine comes back; compose's
``depends_on`` conditions only apply at ``docker compose up``. A recovery replays ``up``'s
order for one project: each step takes what was observed (one :class:`ServiceState` per
service) and the recovery's own memory (:class:`Progress`) and answers which services to stop
(started out of order), which to start (their conditions hold, or they timed out and may start
anyway) and what is still waited for. The caller acts, observes again and calls :func:`step`
until it says ``done``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from healer.core.deps import DependencyGraph
from healer.core.duration.parse import parse_duration
from healer.core.model import ServiceId

ORDER_LABEL = "healer.boot.order"  # "strict": stop and restart it even without restart: true
TIMEOUT_LABEL = "healer.boot.timeout"  # how long it waits for its dependencies
START_ANYWAY_LABEL = "healer.boot.start_anyway"  # start it when that wait times out

STARTED = "service_started"
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class ServiceState:
    """One service as inspect shows it; times are the engine's unix seconds (0 = never)."""

    sid: ServiceId
    total: int
    running: int
    healthy: bool  # every container running and passing its healthcheck (or has none)
    has_healthcheck: bool
    exit_codes: tuple[int, ...] = ()  # of the containers that are not running
    started_at: float = 0.0  # latest start of any container
    finished_at: float = 0.0  # latest exit of a container that is not running
    healthy_at: float | None = None  # when the running containers first passed, if known

    @property
    def up(self) -> bool:
        return self.total > 0 and self.running == self.total

    @property
    def down(self) -> bool:
        return self.running == 0

    @property
    def completed(self) -> bool:
        """Every container ran to the end with exit code 0."""
        return self.down and self.total > 0 and all(c == 0 for c in self.exit_codes)

    @property
    def good(self) -> bool:
        return self.up and self.healthy


@dataclass(frozen=True)
class BootRules:
    """A service's boot labels, parsed; bad values fall back to defaults and say so."""

    timeout: float
    strict: bool = False
    start_anyway: bool = False
    hands_off: bool = False  # auto_repair=false or paused: waited on, never touched
    problems: tuple[str, ...] = ()


def boot_rules(labels: Mapping[str, str], default_timeout: float, hands_off: bool) -> BootRules:
    problems: list[str] = []
    order = labels.get(ORDER_LABEL, "").strip().lower()
    if order not in ("", "strict", "default"):
        problems.append(f"label {ORDER_LABEL}={order!r} is not strict/default; using default")
    timeout = default_timeout
    raw = labels.get(TIMEOUT_LABEL)
    if raw is not None:
        try:
            timeout = parse_duration(raw)
            if timeout <= 0:
                raise ValueError(raw)
        except ValueError:
            problems.append(f"label {TIMEOUT_LABEL}={raw!r} is not a duration > 0; using default")
            timeout = default_timeout
    anyway = labels.get(START_ANYWAY_LABEL, "false").strip().lower()
    if anyway not in _TRUE | _FALSE:
        problems.append(f"label {START_ANYWAY_LABEL}={anyway!r} is not true/false; using false")
    return BootRules(timeout, order == "strict", anyway in _TRUE, hands_off, tuple(problems))


@dataclass(frozen=True)
class Blocked:
    """``sid`` waits for ``blocker`` to meet ``condition``; ``since`` is when the wait began."""

    sid: ServiceId
    blocker: ServiceId
    condition: str
    since: float


@dataclass(frozen=True)
class Progress:
    """What the recovery has done so far; :func:`step` returns the next one."""

    t0: float
    targets: frozenset[ServiceId]
    held: frozenset[ServiceId] = frozenset()  # stopped by the recovery until their turn
    stopped: frozenset[ServiceId] = frozenset()  # every service it stopped, for the record
    started: Mapping[ServiceId, float] = field(default_factory=dict)  # by the recovery, at
    waited: Mapping[ServiceId, float] = field(default_factory=dict)  # seconds, before start
    ready: Mapping[ServiceId, float] = field(default_factory=dict)  # first seen good, at
    failed: Mapping[ServiceId, str] = field(default_factory=dict)  # why it never got good
    timed_out: Mapping[ServiceId, Blocked] = field(default_factory=dict)
    order: tuple[ServiceId, ...] = ()  # services the recovery started, in that order


@dataclass(frozen=True)
class Step:
    stop: tuple[ServiceId, ...]
    start: tuple[ServiceId, ...]
    timeouts: tuple[Blocked, ...]  # waits that ran out at this step
    waiting: Mapping[ServiceId, Blocked]
    progress: Progress
    done: bool


def targets_for(graph: DependencyGraph, intended: Collection[ServiceId]) -> frozenset[ServiceId]:
    """The services meant to run and everything they need, as ``compose up`` would start."""
    wanted = set(intended)
    for sid in intended:
        wanted |= graph.transitive_dependencies(sid)
    return frozenset(wanted)


def _condition_time(dep: ServiceState, condition: str, ran: bool) -> float | None:
    """When ``dep`` met ``condition`` (engine time), or None while it does not.

    A one-shot counts as completed only for a run this recovery started or waited for
    (``ran``: starts are synchronous, so an exit seen afterwards is that run's), as
    ``compose up`` runs it again; a dependency without a healthcheck counts as healthy once
    running (compose would refuse; the recovery does not let that block a whole project).
    """
    if condition == COMPLETED:
        return dep.finished_at if ran and dep.completed else None
    if not dep.up:
        return None
    if condition == HEALTHY and dep.has_healthcheck:
        return (dep.healthy_at or dep.started_at) if dep.healthy else None
    return dep.started_at


def _unmet(
    graph: DependencyGraph,
    sid: ServiceId,
    states: Mapping[ServiceId, ServiceState],
    p: Progress,
    since: float | None,
    hands_off: Collection[ServiceId],
    just_started: Collection[ServiceId] = (),
) -> tuple[ServiceId, str, bool] | None:
    """The first dependency whose condition does not hold (or held only after ``since``,
    the dependent's own start): ``(dependency, condition, restart)``."""
    edges = {e.on: e for e in graph.edges if e.service == sid}
    for dep in graph.dependencies(sid):
        edge = edges.get(dep)
        condition = edge.condition if edge else STARTED  # a network namespace owner
        state = states.get(dep)
        # A one-shot the healer may not run counts with the exit it has; one started in this
        # very step has not been observed since.
        ran = (dep in p.started and dep not in just_started) or dep in p.ready or dep in hands_off
        met = None if state is None else _condition_time(state, condition, ran)
        if met is None or (since is not None and since < met):
            return dep, condition, bool(edge and edge.restart)
    return None


def _settle(
    sid: ServiceId,
    state: ServiceState | None,
    p: Progress,
    now: float,
    oneshot: bool,
    timeout: float,
) -> Progress:
    """Record a service the recovery started (or found running) as ready or failed."""
    if sid in p.ready or sid in p.failed or state is None:
        return p
    if (oneshot and state.completed) or (not oneshot and state.good):
        return replace(p, ready={**p.ready, sid: now})
    if oneshot and state.down and state.exit_codes and not state.completed:
        codes = ",".join(str(c) for c in state.exit_codes)
        return replace(p, failed={**p.failed, sid: f"exited with code {codes}"})
    if not oneshot and sid in p.started and state.down:
        return replace(p, failed={**p.failed, sid: "stopped again after it was started"})
    if now - p.started.get(sid, p.t0) >= timeout:
        return replace(p, failed={**p.failed, sid: f"not healthy within {timeout:.0f}s"})
    return p


@dataclass
class _Acc:
    p: Progress
    stop: list[ServiceId] = field(default_factory=list)
    start: list[ServiceId] = field(default_factory=list)
    timeouts: list[Blocked] = field(default_factory=list)
    waiting: dict[ServiceId, Blocked] = field(default_factory=dict)


def step(
    graph: DependencyGraph,
    states: Mapping[ServiceId, ServiceState],
    rules: Mapping[ServiceId, BootRules],
    p: Progress,
    now: float,
    previous: Mapping[ServiceId, Blocked] | None = None,
) -> Step:
    """One decision of the recovery; ``previous`` is the last step's ``waiting``."""
    acc = _Acc(p)
    oneshots = {e.on for e in graph.edges if e.condition == COMPLETED}
    hands_off = {s for s, r in rules.items() if r.hands_off}
    for sid in graph.repair_order(p.targets):
        ctx = _Ctx(graph, states, rules[sid], now, sid in oneshots, previous or {}, hands_off)
        _one(sid, ctx, acc)
    done = all(
        s in acc.p.ready or s in acc.p.failed or _given_up(s, acc.p, rules[s]) for s in p.targets
    )
    # Dependents go down before what they depend on; starts keep dependency order.
    return Step(
        tuple(reversed(acc.stop)),
        tuple(acc.start),
        tuple(acc.timeouts),
        acc.waiting,
        acc.p,
        done and not acc.start and not acc.stop,
    )


def _given_up(sid: ServiceId, p: Progress, rules: BootRules) -> bool:
    return (sid in p.timed_out and not rules.start_anyway and sid not in p.started) or (
        rules.hands_off and sid not in p.held
    )


@dataclass(frozen=True)
class _Ctx:
    graph: DependencyGraph
    states: Mapping[ServiceId, ServiceState]
    rules: BootRules
    now: float
    oneshot: bool
    previous: Mapping[ServiceId, Blocked]
    hands_off: Collection[ServiceId]


def _one(sid: ServiceId, c: _Ctx, acc: _Acc) -> None:
    state = c.states.get(sid)
    p = acc.p
    if sid in p.started or sid in p.ready or sid in p.failed:
        acc.p = _settle(sid, state, p, c.now, c.oneshot, c.rules.timeout)
        return
    if state is None:
        acc.p = replace(p, failed={**p.failed, sid: "no container to start"})
        return
    running_since = state.started_at if not state.down and sid not in p.held else None
    unmet = _unmet(c.graph, sid, c.states, p, running_since, c.hands_off, acc.start)
    if running_since is not None:
        _running(sid, state, c.rules, unmet, acc, c.now, c.oneshot)
    elif unmet is None:
        if not c.rules.hands_off:
            _start(sid, acc, c.now)
    else:
        _wait(sid, unmet, c, acc)


def _wait(sid: ServiceId, unmet: tuple[ServiceId, str, bool], c: _Ctx, acc: _Acc) -> None:
    blocked = c.previous.get(sid)
    if blocked is None or (blocked.blocker, blocked.condition) != unmet[:2]:
        blocked = Blocked(sid, unmet[0], unmet[1], c.now)
    acc.waiting[sid] = blocked
    # A dependency that failed will not meet its condition: no point waiting the timeout out.
    expired = c.now - acc.p.t0 >= c.rules.timeout or unmet[0] in acc.p.failed
    if sid in acc.p.timed_out or not expired:
        return
    acc.timeouts.append(blocked)
    acc.p = replace(acc.p, timed_out={**acc.p.timed_out, sid: blocked})
    if c.rules.start_anyway and not c.rules.hands_off:
        _start(sid, acc, c.now)


def _running(
    sid: ServiceId,
    state: ServiceState,
    rules: BootRules,
    unmet: tuple[ServiceId, str, bool] | None,
    acc: _Acc,
    now: float,
    oneshot: bool,
) -> None:
    """A service the engine started: keep it, wait for it (a one-shot), or take it down."""
    if oneshot:
        # Already running (the engine restarted it): wait for this run, never start another.
        acc.p = replace(acc.p, started={**acc.p.started, sid: now})
        return
    if unmet is None:
        acc.p = _settle(sid, state, acc.p, now, oneshot, rules.timeout)
        return
    if (rules.strict or unmet[2]) and not rules.hands_off:
        acc.stop.append(sid)
        acc.p = replace(acc.p, held=acc.p.held | {sid}, stopped=acc.p.stopped | {sid})
        acc.waiting[sid] = Blocked(sid, unmet[0], unmet[1], now)
        return
    # Compose would leave it running too: it did not ask to follow its dependency.
    acc.p = _settle(sid, state, acc.p, now, oneshot, rules.timeout)


def _start(sid: ServiceId, acc: _Acc, now: float) -> None:
    p = acc.p
    acc.start.append(sid)
    acc.p = replace(
        p,
        started={**p.started, sid: now},
        waited={**p.waited, sid: round(now - p.t0, 3)},
        order=(*p.order, sid),
        held=p.held - {sid},
    )
