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

The buffer is useless as a boot id, but what it does hold is proof, as a daemon replays only
the events it emitted itself and a new one starts with an empty buffer:

- an event it holds from at or before ``alive_before`` means the daemon answering now was
  already up then: no restart since, whatever the containers did;
- a container whose last exit has its ``die`` replayed, with no ``kill`` of it just before,
  crashed under this very daemon (and may have been started again since, by the healer or
  its restart policy): no evidence of a restart. The ``die`` of a container the old daemon
  stopped while shutting down is not replayed. A ``kill`` disqualifies because a daemon
  that died hard (SIGKILL, OOM) leaves its containers running, and the new one kills them
  itself while loading them (``kill``, ``die``, ``stop``, then ``start``): those changes
  are the restart's. A stop or restart ordered through the API (by the healer, by hand)
  also begins with a ``kill``, so it still counts, as it did before.

That keeps a healer process restarted (a crash, an upgrade) just after its only managed
container crashed from mistaking the crash for an engine restart. When the buffer rolled
over (healthcheck execs fill it within seconds on a busy host) the events are gone and the
change still counts: the conservative side, a restart is never missed for want of an event.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


@dataclass(frozen=True)
class Witness:
    """What the engine answering now replays of its own events (its whole buffer)."""

    oldest: float | None  # engine time of the oldest event it holds; None: it holds none
    dies: Mapping[ContainerId, Sequence[float]]
    kills: Mapping[ContainerId, Sequence[float]]


NO_WITNESS = Witness(None, {}, {})

# How much earlier than ``FinishedAt`` a ``die`` may be stamped: the engine logs the event
# after the exit it records, so this only absorbs rounding.
DIE_SLACK = 1.0
# A ``kill`` this long before a ``die`` caused it: a stop waits out its grace period (10 s by
# default, compose's stop_grace_period can be longer) before SIGKILL.
KILL_WINDOW = 120.0


def witness_of(events: Iterable[Mapping[str, Any]]) -> Witness:
    """Decoded engine events (any type) → a :class:`Witness`."""
    oldest: float | None = None
    dies: dict[ContainerId, list[float]] = {}
    kills: dict[ContainerId, list[float]] = {}
    for raw in events:
        at = raw.get("timeNano")
        if not isinstance(at, int):
            continue
        t = at / 1e9
        oldest = t if oldest is None else min(oldest, t)
        cid, action = raw.get("id"), raw.get("Action") or raw.get("status")
        if raw.get("Type") == "container" and cid and action in ("die", "kill"):
            (dies if action == "die" else kills).setdefault(ContainerId(cid), []).append(t)
    return Witness(oldest, dies, kills)


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


def up_throughout(witness: Witness, alive_before: float) -> bool:
    """The engine answering now holds an event of its own from when it was last seen alive:
    the same daemon, up all along."""
    return witness.oldest is not None and witness.oldest <= alive_before


def crashed_under_it(cid: ContainerId, t: ContainerTimes, witness: Witness) -> bool:
    """The engine answering now emitted the ``die`` of this container's last exit (for a
    stopped one its stop, for a running one the exit before its current run), and no
    ``kill`` of it came between its previous ``die`` and that one."""
    if t.finished_at <= 0:
        return False  # never exited: started for the first time, nothing to witness
    low, high = t.finished_at - DIE_SLACK, t.finished_at + DIE_SLACK
    if t.running:
        high = min(high, t.started_at)  # that exit came before this run
    dies = sorted(witness.dies.get(cid, ()))
    last = [d for d in dies if low <= d <= high]
    if not last:
        return False
    die = last[-1]
    after = max([die - KILL_WINDOW, *(d for d in dies if d < die)])
    return not any(after < k <= die for k in witness.kills.get(cid, ()))


def restarted_containers(
    intended: Collection[ContainerId],
    times: Mapping[ContainerId, ContainerTimes],
    alive_before: float,
    witness: Witness = NO_WITNESS,
) -> frozenset[ContainerId]:
    """The intended containers an engine restart stopped or started since ``alive_before``
    (engine time). Nothing when one of them kept running through it, when the engine
    answering now was up throughout, or when each change was a crash it witnessed."""
    changed = changed_containers(intended, times, alive_before)
    if not changed or up_throughout(witness, alive_before):
        return frozenset()
    return frozenset(c for c in changed if not crashed_under_it(c, times[c], witness))


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
