"""Did the engine restart? And what does inspect say about a service's run? Pure.

Docker 20.10 exposes no daemon start time or boot id: ``/info`` has the engine ``ID``, which
lives in ``/etc/docker/key.json`` and survives restarts (two daemons on one host even share
it), and the events ring buffer (256 entries, in memory) rolls over within seconds once
healthchecks run, so "is my last event still there" is no boot id either. What a restart
without ``live-restore`` does leave, reliably, is its mark on the containers: it stops every
running container (``FinishedAt``) and starts those with a restart policy again
(``StartedAt``). So: when the event stream comes back, a restart happened iff no container
meant to run is still running since before the engine was last seen alive, and at least one
was stopped or started since then for a reason the engine answering now did not witness.
Containers already down before that (a crash being handled, a quarantined one) say nothing
either way.

The buffer is useless as a boot id, but what it does hold is proof: a daemon replays only
the events it emitted itself, and a new one starts with an empty buffer (the ``die`` of the
containers the old one stopped while shutting down is not replayed). So a container whose
last exit has its ``die`` in the current engine's replay crashed, or was stopped or
restarted (by the healer, by hand), under this very engine: no evidence of a restart. That
is what keeps a healer process restarted (a crash, an upgrade) just after its only managed
container crashed from mistaking the crash for an engine restart. When the buffer rolled
over (healthcheck execs fill it on a busy host) the ``die`` is gone and the change still
counts: the conservative side, a restart is never missed for want of an event.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from healer.core.boot.plan import ServiceState
from healer.core.container_state import ContainerState
from healer.core.model import ContainerId, ServiceId


@dataclass(frozen=True)
class ContainerTimes:
    running: bool
    started_at: float  # engine unix time, 0 if never
    finished_at: float


def engine_time(text: str | None) -> float:
    """Docker's RFC 3339 timestamp (nanoseconds, ``Z``) → unix seconds; 0 for "never"."""
    if not text or text.startswith("0001-"):
        return 0.0
    main, _, rest = text.partition(".")
    frac, zone = "", "+00:00"
    if rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, tail = rest[:digits], rest[digits:]
        zone = "+00:00" if tail in ("", "Z") else tail
    elif main.endswith("Z"):
        main = main[:-1]
    elif len(main) > 19:
        main, zone = main[:19], main[19:]
    stamp = datetime.fromisoformat(f"{main}+00:00" if zone == "Z" else f"{main}{zone}")
    return stamp.timestamp() + (float(f"0.{frac}") if frac else 0.0)


def container_times(c: ContainerState) -> ContainerTimes:
    return ContainerTimes(
        running=c.running, started_at=c.started_at or 0.0, finished_at=c.finished_at or 0.0
    )


# How much earlier than ``FinishedAt`` a ``die`` may be stamped: the engine logs the event
# after the exit it records, so this only absorbs rounding.
DIE_SLACK = 1.0


def changed_containers(
    intended: Collection[ContainerId],
    times: Mapping[ContainerId, ContainerTimes],
    alive_before: float,
) -> frozenset[ContainerId]:
    """The intended containers stopped or started since ``alive_before`` (engine time), or
    nothing when one of them kept running through it (no restart, or live-restore)."""
    changed: set[ContainerId] = set()
    for cid in intended:
        t = times.get(cid)
        if t is None:
            continue  # removed since: compose recreated it, or someone ran `docker rm`
        if t.started_at > alive_before or (not t.running and t.finished_at > alive_before):
            changed.add(cid)
        elif t.running:
            return frozenset()
    return frozenset(changed)


def replay_since(
    changed: Collection[ContainerId],
    times: Mapping[ContainerId, ContainerTimes],
    alive_before: float,
) -> float:
    """Where the engine's replay must start to hold the ``die`` of each changed container's
    last exit (one started since may have exited just before ``alive_before``)."""
    exits = [times[c].finished_at for c in changed if c in times and times[c].finished_at > 0]
    return min([alive_before, *exits]) - DIE_SLACK


def witnessed(t: ContainerTimes, dies: Collection[float]) -> bool:
    """The current engine emitted the ``die`` of this container's last exit: for a stopped
    one its stop, for a running one the exit before its current run."""
    if t.finished_at <= 0:
        return False  # never exited: started for the first time, nothing to witness
    low = t.finished_at - DIE_SLACK
    high = t.started_at + DIE_SLACK if t.running else float("inf")
    return any(low <= d <= high for d in dies)


def restarted_containers(
    intended: Collection[ContainerId],
    times: Mapping[ContainerId, ContainerTimes],
    alive_before: float,
    dies: Mapping[ContainerId, Collection[float]] | None = None,
) -> frozenset[ContainerId]:
    """The intended containers the engine restart stopped or started since ``alive_before``
    (engine time); nothing when one of them kept running through it, or when the current
    engine witnessed every change. ``dies``: the engine times of the ``die`` events the
    current engine replays since :func:`replay_since`, by container."""
    seen = dies or {}
    return frozenset(
        cid
        for cid in changed_containers(intended, times, alive_before)
        if not witnessed(times[cid], seen.get(cid, ()))
    )


def _healthy_at(c: ContainerState) -> float | None:
    """End of the first passing probe of this run (Docker keeps the last five)."""
    if c.health != "healthy":
        return None
    started_at = c.started_at or 0.0
    passing = [p.end for p in c.health_log or () if p.exit_code == 0 and p.start >= started_at]
    return min(passing) if passing else started_at


def service_state(sid: ServiceId, containers: Sequence[ContainerState]) -> ServiceState:
    """One service's :class:`ServiceState` from its containers' inspects."""
    running = [c for c in containers if c.running]
    stopped = [c for c in containers if not c.running]
    has_check = any(c.health is not None for c in containers)
    healthy_times = [_healthy_at(c) for c in running if c.health is not None]
    passing = [t for t in healthy_times if t is not None]
    healthy = bool(running) and (not has_check or len(passing) == len(running))
    return ServiceState(
        sid=sid,
        total=len(containers),
        running=len(running),
        healthy=healthy,
        has_healthcheck=has_check,
        exit_codes=tuple(c.exit_code or 0 for c in stopped),
        started_at=max((c.started_at or 0.0 for c in containers), default=0.0),
        finished_at=max((c.finished_at or 0.0 for c in stopped), default=0.0),
        healthy_at=max(passing) if healthy and passing else None,
    )
