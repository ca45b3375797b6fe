"""Has the engine restarted since it was last seen alive? Run by the events watcher each time
its stream (re)connects, before it replays the events it missed, so the reconcile already
sees the projects as recovering when those events arrive."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from healer.adapters.docker.engine import (
    ContainerGone,
    DockerEngine,
    EngineError,
    EngineUnreachable,
)
from healer.adapters.store.boot import BootStore
from healer.core.boot.detect import (
    ContainerTimes,
    changed_containers,
    container_times,
    engine_time,
    restarted_containers,
    up_throughout,
    witness_of,
)
from healer.core.model import ContainerId, ServiceId, split_service_id

log = logging.getLogger("healer.boot")


def restarted_projects(
    engine: DockerEngine,
    store: BootStore,
    deadline: float,
    recover: Callable[[str], None] = lambda project: None,
) -> list[str]:
    """The managed projects to recover in order: each is marked ``booting`` for ``deadline``
    seconds and handed to ``recover``. Only then is the engine recorded as alive now, so a
    failure on the way (Redis, the broker) leaves the restart to be found again."""
    now = engine_time(engine.system_time())
    alive = store.last_alive()
    intended = {
        cid: sid
        for cid, sid in store.intended().items()
        if engine.manages(split_service_id(sid)[0])
    }
    projects: list[str] = []
    if alive is not None and intended:
        changed = _restarted(engine, intended, alive)
        projects = sorted({split_service_id(intended[c])[0] for c in changed})
        store.stopped_by_the_engine(changed)
        for project in projects:
            store.mark_booting(project, deadline)
            recover(project)
        if projects:
            log.warning(
                "engine restarted since %.0f (engine time): %d containers meant to run were "
                "stopped or started; ordered recovery of %s",
                alive,
                len(changed),
                ", ".join(projects),
            )
    store.engine_alive(now)
    return projects


def _restarted(
    engine: DockerEngine, intended: dict[ContainerId, ServiceId], alive: float
) -> frozenset[ContainerId]:
    """The containers an engine restart stopped or started (see restarted_containers): the
    candidates from inspect, judged against the events the engine answering now replays."""
    times: dict[ContainerId, ContainerTimes] = {}
    for cid in intended:
        try:
            times[cid] = container_times(engine.inspect(cid))
        except ContainerGone:
            continue
    candidates = changed_containers(intended, times, alive)
    if not candidates:
        return frozenset()
    # Until after the inspects: an event between the first clock reading and them counts.
    until = engine_time(engine.system_time())
    try:
        witness = witness_of(engine.replay(until))
    except EngineUnreachable:
        raise
    except EngineError as exc:
        log.warning("could not replay the engine's events, every change counts: %s", exc)
        return restarted_containers(intended, times, alive)
    changed = restarted_containers(intended, times, alive, witness)
    if not changed:
        why = (
            "the engine answering now still holds events of its own from before then"
            if up_throughout(witness, alive)
            else "the engine answering now saw each of them crash (its events hold their die)"
        )
        log.info(
            "no engine restart since %.0f (engine time), though %d containers meant to run "
            "stopped or started since (%s): %s; left to the repairs",
            alive,
            len(candidates),
            _some(intended[c] for c in candidates),
            why,
        )
    return changed


def _some(sids: Iterable[ServiceId], shown: int = 10) -> str:
    """The services named in a log line: a few, and how many more."""
    names = sorted(set(sids))
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
