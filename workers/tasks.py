"""Thin Celery tasks: unpack, call into `healer.engine`, report. Names read well in Flower."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import asdict
from typing import Any

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import heartbeat_sent, worker_process_init, worker_ready

from healer.adapters.docker.engine import EngineError
from healer.adapters.queue import (
    CHECK_DISK,
    PROBE_ALL,
    PROBE_SERVICE,
    REPAIR_CLEANUP,
    REPAIR_SERVICE,
    TRIM_HISTORY,
    CeleryDispatcher,
)
from healer.core.model import (
    ContainerId,
    HostId,
    Outcome,
    RepairRequest,
    ServiceId,
    SkipReason,
    Source,
)
from healer.core.queues import PROBE_QUEUE, REPAIR_QUEUE, host_queue
from healer.engine.context import Healer, build
from healer.engine.disk import check_disk
from healer.engine.probe import probe, reconcile
from healer.engine.repair.manual import close_request
from healer.engine.repair.outcome import RepairResult, finish_repair
from healer.engine.repair.run import Busy, SlotsFull, repair
from workers.app import RETRY_ON_REDIS_LOSS, app, settings

log = logging.getLogger("healer.tasks")

_healer: Healer | None = None
_pid = 0
_building = threading.Lock()


def healer() -> Healer:
    """One Healer per worker process, built after fork so no socket is shared; the threads
    of a threads pool share it (redis-py and the docker SDK pool their connections)."""
    global _healer, _pid
    with _building:
        if _healer is None or _pid != os.getpid():
            _healer = build(settings, CeleryDispatcher(app, settings.host_id))
            _pid = os.getpid()
        return _healer


def elsewhere(task: Task, host: str, queue: str, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """Work addressed to another host is never done here: it goes on to that host's queue.

    Host queues make this rare (a worker only consumes its own); it covers tasks put on a
    shared queue with a host named, and a worker whose HEALER_HOST was changed."""
    if not host or host == settings.host:
        return None
    target = host_queue(queue, HostId(host))
    task_id = str(kwargs.get("request_id") or "") or None  # a request keeps its id
    task.app.send_task(task.name, kwargs={**kwargs, "host": host}, queue=target, task_id=task_id)
    log.warning(
        "%s for host %s reached host %s; sent on to %s", task.name, host, settings.host, target
    )
    return {"forwarded_to": host}


@app.task(
    bind=True,
    name=PROBE_ALL,
    ignore_result=True,
    **RETRY_ON_REDIS_LOSS,
    max_retries=3,
)
def probe_all(self: Task, host: str = "") -> dict[str, Any]:
    if (away := elsewhere(self, host, PROBE_QUEUE, {})) is not None:
        return away
    try:
        result = reconcile(healer())
    except EngineError as exc:
        return _engine_down("reconcile probe", exc)
    _engine_back()
    return asdict(result)


@app.task(
    bind=True,
    name=PROBE_SERVICE,
    ignore_result=True,
    **RETRY_ON_REDIS_LOSS,
    max_retries=3,
)
def probe_service(
    self: Task,
    sid: str,
    event_time: float | None = None,
    action: str = "",
    container_id: str = "",
    host: str = "",
) -> dict[str, Any]:
    kwargs = {"sid": sid, "event_time": event_time, "action": action, "container_id": container_id}
    if (away := elsewhere(self, host, PROBE_QUEUE, kwargs)) is not None:
        return away
    h = healer()
    lag = time.time() - event_time if event_time else None
    if lag is not None:
        h.telemetry.observe("healer_event_lag_seconds", max(lag, 0.0))
    try:
        result = probe(
            h,
            ServiceId(sid),
            source=Source.EVENT if event_time else Source.PROBE,
            container_id=ContainerId(container_id) if container_id else None,
        )
    except EngineError as exc:
        return _engine_down(f"probe of {sid}", exc)
    _engine_back()
    h.telemetry.observe("healer_probe_duration_seconds", result.duration, "service")
    out = asdict(result)
    out["event_lag"] = lag
    out["event"] = action
    return out


@app.task(
    bind=True,
    name=REPAIR_SERVICE,
    max_retries=None,
    **RETRY_ON_REDIS_LOSS,
)
def repair_service(self: Task, **kwargs: Any) -> dict[str, Any]:
    if (away := elsewhere(self, str(kwargs.get("host") or ""), REPAIR_QUEUE, kwargs)) is not None:
        return away
    h = healer()
    req = RepairRequest.from_kwargs(kwargs)
    if not req.request_id:
        req = RepairRequest.from_kwargs({**kwargs, "request_id": self.request.id})
    try:
        return asdict(repair(h, req))
    except SoftTimeLimitExceeded:
        # The soft limit leaves a tenth of the hard one to say so: an acknowledged request
        # ends with a recorded outcome instead of being killed silently (prefork pool).
        why = f"the task time limit ({settings.task_time_limit:.0f}s) hit while repairing"
        return asdict(finish_repair(h, req, RepairResult(Outcome.FAILED, "time_limit", why)))
    except EngineError as exc:
        # The engine failed or timed out (HEALER_DOCKER_TIMEOUT) before the repair could act
        # or record: the acknowledged request still ends with an outcome.
        return asdict(finish_repair(h, req, RepairResult(Outcome.FAILED, "engine_error", str(exc))))
    except SlotsFull as full:
        raise self.retry(countdown=full.retry_after, max_retries=None) from full
    except Busy as busy:
        # An acknowledged request waits for the repair in flight: at least a lock lifetime,
        # and as long as the holder's lease runs (it is stretched to its work; a dead
        # worker's lease runs out by itself, then this request acts). It ends with a recorded
        # outcome rather than vanishing; HEALER_BACKOFF_MAX, the longest the healer ever
        # defers a repair, bounds the wait whatever holds the lock.
        waited = self.request.retries * busy.retry_after
        if waited >= settings.backoff_max or (waited >= settings.lock_ttl and busy.held_for <= 0):
            why = "another repair held the lock throughout"
            result = RepairResult(Outcome.SKIPPED, SkipReason.IN_FLIGHT.value, why)
            return asdict(finish_repair(h, req, result))
        raise self.retry(countdown=busy.retry_after) from busy


_engine_error = ""


def _engine_down(what: str, exc: EngineError) -> dict[str, Any]:
    """One log line per distinct engine error, not a traceback per task."""
    global _engine_error
    if str(exc) != _engine_error:
        log.warning("%s skipped: %s (reported once until the engine answers)", what, exc)
        _engine_error = str(exc)
    return {"error": str(exc)}


def _engine_back() -> None:
    global _engine_error
    if _engine_error:
        log.warning("Docker engine answers again")
        _engine_error = ""


@app.task(name=TRIM_HISTORY, ignore_result=True)
def trim_history() -> int:
    h = healer()
    return h.history.trim_older_than(time.time() - settings.history_retention)


@app.task(bind=True, name=CHECK_DISK, ignore_result=True)
def check_disk_task(self: Task, host: str = "") -> dict[str, Any]:
    if (away := elsewhere(self, host, PROBE_QUEUE, {})) is not None:
        return away
    return asdict(check_disk(healer(), source=Source.PROBE))


@app.task(bind=True, name=REPAIR_CLEANUP)
def cleanup_task(
    self: Task, source: str = "api", request_id: str = "", dry_run: bool = False, host: str = ""
) -> dict[str, Any]:
    kwargs = {"source": source, "request_id": request_id, "dry_run": dry_run}
    if (away := elsewhere(self, host, REPAIR_QUEUE, kwargs)) is not None:
        return away
    h = healer()
    try:
        result = check_disk(h, source=Source(source), dry_run=dry_run)
    except SoftTimeLimitExceeded:
        close_request(
            h, request_id, Outcome.FAILED, "time_limit", "cleanup ran past the time limit"
        )
        raise
    except EngineError as exc:
        close_request(h, request_id, Outcome.FAILED, "engine_error", str(exc))
        return {"outcome": Outcome.FAILED.value, "reason": str(exc)}
    # Every acknowledged request ends in an outcome; "nothing to do" is a skip.
    outcome = Outcome.SKIPPED if result.outcome == Outcome.OK else result.outcome
    detail = f"{len(result.removed)} items, {result.bytes_freed} bytes" + (
        "; errors: " + "; ".join(result.errors[:5]) if result.errors else ""
    )
    close_request(h, request_id, outcome, result.reason, detail)
    return asdict(result)


@heartbeat_sent.connect
def _worker_alive(sender: Any = None, **_: Any) -> None:
    """Celery's own event heartbeat (every ~2 s with -E) feeds healer_celery_workers_online."""
    try:
        healer().telemetry.worker_alive(f"{socket.gethostname()}:{os.getpid()}", time.time())
    except redis.RedisError as exc:
        log.warning("worker heartbeat not recorded: %s", exc)


@worker_ready.connect
def _warm_up_threads(**_: Any) -> None:
    """A threads pool has no child processes: warm up once the worker itself is ready."""
    if settings.worker_pool == "threads":
        _warm_up()


@worker_process_init.connect
def _warm_up(**_: Any) -> None:
    """Connect to Docker and Redis when the pool child starts, not on the first repair:
    the first event after a worker start should not pay for connection setup."""
    try:
        h = healer()
        h.stores.ping()
        h.engine.ping()
    except Exception as exc:  # a cold start must never stop the worker from booting
        log.warning("warm-up failed (will connect on first task): %s", exc)
