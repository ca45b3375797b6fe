"""A built-in repair of a service's replicas, a wave at a time within its budget of
unavailable replicas (healer.core.rollout.budget).

The replicas that are unavailable already go first; an available one is touched only while
the budget has room, and the wave after it waits until it is available again. A replica that
does not come back within its time stops the repair there: the rest are left as they were,
and the record says which. A repair of one failing replica (the probe's and the event's
usual case) is one wave and waits for nothing more than today: `running`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from healer.adapters.docker.engine import ContainerGone, EngineError
from healer.adapters.store.history import Record
from healer.core.container_state import ContainerState
from healer.core.model import INTENT_SOURCES, ContainerId, ContainerView, Outcome, RepairRequest
from healer.core.repair.work import PER_CONTAINER_SLACK, stop_grace
from healer.core.rollout.budget import availability_timeout, next_wave, order
from healer.core.rollout.labels import RolloutLabels
from healer.engine.context import Healer
from healer.engine.rollout.drain import Drain

Keep = Callable[[float], None]
"""Stretch the repair's lease and acting marks to cover `seconds` more work."""
ActOne = Callable[[ContainerId, ContainerState], ContainerId | None]
"""Act on one container; the id now serving (a recreate's is new), None when it failed."""


@dataclass
class Progress:
    total: int
    done: int = 0

    def text(self, name: str, action: str) -> str:
        return f"{name}: {action} done, available ({self.done} of {self.total})"


def run(
    h: Healer,
    req: RepairRequest,
    inspected: dict[ContainerId, ContainerState],
    rollout: RolloutLabels,
    act_one: ActOne,
    keep: Keep,
    drain: Drain | None = None,
) -> list[str]:
    """Go through the targets wave by wave; returns the errors that stopped the repair.
    `drain` takes an available replica out of service before it is acted on."""
    # One failing replica the healer saw itself is unavailable already: one wave, and no
    # list call on the event path.
    single = len(inspected) == 1 and req.source not in INTENT_SOURCES
    replicas = [] if single else _replicas(h, req)
    pending = order(list(inspected), replicas)
    progress = Progress(len(pending))
    first = True
    while pending:
        wave = next_wave(pending, replicas, rollout.max_unavailable)
        if not wave.ids:
            return [_spent(wave.down, len(replicas), wave.budget, pending, inspected)]
        last = len(wave.ids) == len(pending)
        drains = len(wave.ids) - len(wave.free) if drain is not None else 0
        if drains or not (first and last):  # the repair's own budget covers a single wave
            wait = _wave_time(h, [inspected[c] for c in wave.ids], last)
            rest = _wave_time(h, [inspected[c] for c in pending if c not in wave.ids], True)
            keep(wait + rest + drains * h.settings.scale_drain_timeout)
        first = False
        later = [c for c in pending if c not in wave.ids]
        serving = []
        for i, cid in enumerate(wave.ids):
            if drain is not None and cid not in wave.free:
                _note(h, req, drain(cid, inspected[cid]))
            new = act_one(cid, inspected[cid])
            if new is None:
                return _stopped([*wave.ids[i + 1 :], *later], inspected)
            serving.append((cid, new))
        for cid, new in serving:
            if not last and not wait_available(h, new, inspected[cid]):
                why = f"{inspected[cid].name} not available within its time after {req.action}"
                return [why, *_stopped(later, inspected)]
            progress.done += 1
            _report(h, req, progress, inspected[cid].name)
        pending = later
        replicas = _replicas(h, req) if pending else replicas
    return []


def _replicas(h: Healer, req: RepairRequest) -> list[ContainerView]:
    view = h.engine.services(req.sid).get(req.sid)
    return list(view.containers) if view is not None else []


def _wave_time(h: Healer, infos: list[ContainerState], last: bool) -> float:
    """Seconds to act on `infos` (each: its stop grace, the verify wait, engine round trips)
    and, unless it is the last wave, to wait until they are available again."""
    act = sum(_grace(h, i) + h.settings.verify_timeout + PER_CONTAINER_SLACK for i in infos)
    return act if last else act + sum(_available_within(h, i) for i in infos)


def _grace(h: Healer, info: ContainerState) -> int:
    return stop_grace(h.settings.stop_timeout, info.stop_timeout)


def _available_within(h: Healer, info: ContainerState) -> float:
    return availability_timeout(info.healthcheck, h.settings.verify_timeout)


def wait_available(h: Healer, cid: ContainerId, info: ContainerState) -> bool:
    """Until `cid` is healthy (running, without a healthcheck); False when it stops or
    vanishes, or its time runs out. `unhealthy` does not end the wait: a service still
    warming up fails its first checks and passes the next one."""
    deadline = time.monotonic() + _available_within(h, info)
    while time.monotonic() < deadline:
        try:
            now = h.engine.inspect(cid)
        except (ContainerGone, EngineError):
            return False
        if now.available:
            return True
        if not now.running:
            return False
        time.sleep(0.1)
    return False


def _note(h: Healer, req: RepairRequest, text: str) -> None:
    if text:
        rec = Record(req.sid, Outcome.INFO, req.condition.value, action=str(req.action))
        h.history.record(replace(rec, reason="drained", detail=text, host=h.host))


def _report(h: Healer, req: RepairRequest, progress: Progress, name: str) -> None:
    if progress.total < 2:
        return  # one replica: the outcome says it all, the event path writes nothing more
    text = progress.text(name, str(req.action))
    h.history.record(
        Record(
            req.sid,
            Outcome.INFO,
            req.condition.value,
            action=str(req.action),
            reason="replica_done",
            detail=text,
            source=req.source,
            request_id=req.request_id,
            host=h.host,
        )
    )
    if req.request_id:
        h.requests.progress(req.request_id, text)


def _stopped(
    untouched: list[ContainerId], inspected: dict[ContainerId, ContainerState]
) -> list[str]:
    if not untouched:
        return []
    names = ", ".join(inspected[c].name for c in untouched)
    return [f"repair stopped there, left untouched: {names}"]


def _spent(
    down: int,
    replicas: int,
    budget: int,
    pending: list[ContainerId],
    inspected: dict[ContainerId, ContainerState],
) -> str:
    rest = ", ".join(inspected[c].name for c in pending)
    return (
        f"{down} of {replicas} replicas unavailable, max_unavailable allows {budget}: "
        f"repair stopped, left untouched: {rest}"
    )
