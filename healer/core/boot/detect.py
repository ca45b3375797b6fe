"""Did the engine restart? And what does inspect say about a service's run? Pure.

Docker 20.10 exposes no daemon start time or boot id: ``/info`` has the engine ``ID``, which
lives in ``/etc/docker/key.json`` and survives restarts (two daemons on one host even share
it), and the events ring buffer (256 entries, in memory) rolls over within seconds once
healthchecks run, so "is my last event still there" is no boot id either. What a restart
without ``live-restore`` does leave, reliably, is its mark on the containers: it stops every
running container (``FinishedAt``) and starts those with a restart policy again
(``StartedAt``). So: when the event stream comes back, a restart happened iff no container
meant to run is still running since before the engine was last seen alive, and at least one
was stopped or started since then. Containers already down before that (a crash being
handled, a quarantined one) say nothing either way.
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


def restarted_containers(
    intended: Collection[ContainerId],
    times: Mapping[ContainerId, ContainerTimes],
    alive_before: float,
) -> frozenset[ContainerId]:
    """The intended containers the engine stopped or started since ``alive_before`` (engine
    time), or nothing when one of them kept running through it (no restart, or live-restore).
    """
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
