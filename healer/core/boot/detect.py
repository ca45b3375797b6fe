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
from typing import Any

from healer.core.boot.plan import ServiceState
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


def container_times(inspect: Mapping[str, Any]) -> ContainerTimes:
    state = inspect.get("State") or {}
    return ContainerTimes(
        running=bool(state.get("Running")),
        started_at=engine_time(state.get("StartedAt")),
        finished_at=engine_time(state.get("FinishedAt")),
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


def _healthy_at(health: Mapping[str, Any], started_at: float) -> float | None:
    """End of the first passing probe of this run (Docker keeps the last five)."""
    if health.get("Status") != "healthy":
        return None
    passing = [
        engine_time(e.get("End"))
        for e in health.get("Log") or []
        if e.get("ExitCode") == 0 and engine_time(e.get("Start")) >= started_at
    ]
    return min(passing) if passing else started_at


def service_state(sid: ServiceId, inspects: Sequence[Mapping[str, Any]]) -> ServiceState:
    """One service's :class:`ServiceState` from its containers' inspect payloads."""
    running = [i for i in inspects if (i.get("State") or {}).get("Running")]
    stopped = [i for i in inspects if i not in running]
    healths = [(i.get("State") or {}).get("Health") for i in inspects]
    has_check = any(h for h in healths)
    healthy_times = [
        _healthy_at(h or {}, container_times(i).started_at)
        for i, h in zip(inspects, healths, strict=True)
        if i in running and h
    ]
    passing = [t for t in healthy_times if t is not None]
    healthy = bool(running) and (not has_check or len(passing) == len(running))
    return ServiceState(
        sid=sid,
        total=len(inspects),
        running=len(running),
        healthy=healthy,
        has_healthcheck=has_check,
        exit_codes=tuple(int((i.get("State") or {}).get("ExitCode", 0)) for i in stopped),
        started_at=max((container_times(i).started_at for i in inspects), default=0.0),
        finished_at=max((container_times(i).finished_at for i in stopped), default=0.0),
        healthy_at=max(passing) if healthy and passing else None,
    )
