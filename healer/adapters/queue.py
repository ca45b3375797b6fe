"""Celery as the healer's queue: the app's configuration and a producer-side dispatcher.

The worker package (`workers.app`) builds its app here too, so producers (API, CLI, events
watcher) and consumers can never disagree on queues, routes or delivery guarantees.
"""

from __future__ import annotations

import uuid

from celery import Celery
from kombu import Queue

from healer.adapters.store import keys
from healer.adapters.store.connection import target
from healer.core.model import HostId, RepairRequest, ServiceId, Source
from healer.core.queues import (
    PROBE_QUEUE,
    QUEUES,
    REPAIR_QUEUE,
    SCALE_QUEUE,
    host_queue,
    host_queues,
)
from healer.settings import Settings

PROBE_ALL = "healer.probe.all"
PROBE_SERVICE = "healer.probe.service"
REPAIR_SERVICE = "healer.repair.service"
TRIM_HISTORY = "healer.probe.trim_history"
CHECK_DISK = "healer.probe.disk"
REPAIR_CLEANUP = "healer.repair.cleanup"
REPAIR_BOOT = "healer.repair.boot"
SCALE_CYCLE = "healer.scale.cycle"
SCALE_SERVICE = "healer.scale.service"
SCALE_TRIGGERED = "healer.scale.triggered"

# Scheduled work that is per host: the active beat sends each to every live host's own
# queue of this kind (beat.scheduler); the rest of the schedule is cluster-wide.
HOST_TASKS = {PROBE_ALL: PROBE_QUEUE, SCALE_CYCLE: SCALE_QUEUE, CHECK_DISK: PROBE_QUEUE}


def make_celery(settings: Settings, name: str = "healer") -> Celery:
    app = Celery(name, broker=settings.redis_url, backend=settings.redis_url)
    redis_target = target(settings)
    transport = {
        # Redis redelivers an unacked task after this; every time limit stays below it so a
        # running task is never handed to a second worker.
        "visibility_timeout": settings.visibility_timeout,
        # With sentinel:// URLs: the master's name and the sentinels' password.
        **redis_target.transport_options(),
    }
    redbeat_url, redbeat_options = redis_target.redbeat()
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit,
        task_soft_time_limit=settings.task_time_limit * 0.9,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # Reconnect a lost broker every 0.5-2 s (kombu's own: 2, 4, 6 … s), so a worker is
        # back within moments of a Sentinel failover (workers/consumer.py).
        worker_consumer="workers.consumer:QuickReconnectConsumer",
        task_send_sent_event=True,
        worker_send_task_events=True,
        task_track_started=True,
        result_expires=86400,
        task_serializer="json",
        accept_content=["json"],
        # A worker consumes the shared queues and its own host's (added at worker start,
        # whatever -Q says: see workers.host_agent); producers address any host's queue.
        task_queues=[Queue(q) for q in (*QUEUES, *host_queues(settings.host_id))],
        task_default_queue=PROBE_QUEUE,
        task_routes={
            "healer.repair.*": {"queue": REPAIR_QUEUE},
            "healer.scale.*": {"queue": SCALE_QUEUE},
            "healer.probe.*": {"queue": PROBE_QUEUE},
        },
        worker_pool=settings.worker_pool,
        worker_concurrency=settings.concurrency,
        # The beat entry point (beat.schedule.install) names its scheduler; RedBeat's
        # settings live here with the broker's.
        redbeat_redis_url=redbeat_url,
        **({"redbeat_redis_options": redbeat_options} if redbeat_options else {}),
        # The healer's own clients in beat (host registry, scale trigger) open this target.
        healer_redis=redis_target,
        # A beat limited to some hosts (HEALER_BEAT_HOSTS) keeps its own schedule and lock,
        # so beats over disjoint host sets are each active at once.
        redbeat_key_prefix=keys.redbeat_prefix(settings.beat_host_patterns),
        # Only the beat holding this lock schedules; a second beat waits as a hot standby.
        redbeat_lock_timeout=max(30, int(settings.watchdog_interval * 5)),
        # Beat also runs the between-cycles scale check on every tick (beat.scheduler):
        # ticking every second lets a queue burst start a scale-up within about a second.
        beat_max_loop_interval=min(1.0, settings.watchdog_interval),
    )
    return app


class CeleryDispatcher:
    """Producer side: every request gets a task id that is also its history request id.

    Work goes to a host's own queues: `host` is this process's host (probes and the repairs
    its probes find); work that names another host goes to that host's queue. Sends whose
    result nobody waits for skip the result-channel subscription (ignore_result)."""

    def __init__(self, app: Celery, host: HostId) -> None:
        self.app = app
        self.host = host

    def repair(self, request: RepairRequest, countdown: float = 0) -> str:
        request_id = request.request_id or uuid.uuid4().hex
        host = HostId(request.host) if request.host else self.host
        kwargs = request.to_kwargs()
        kwargs["request_id"] = request_id
        kwargs["host"] = host
        self.app.send_task(
            REPAIR_SERVICE,
            kwargs=kwargs,
            task_id=request_id,
            queue=host_queue(REPAIR_QUEUE, host),
            countdown=countdown or None,
        )
        return request_id

    def probe(self, sid: ServiceId, countdown: float = 0, host: HostId | None = None) -> None:
        host = host or self.host
        self.app.send_task(
            PROBE_SERVICE,
            kwargs={"sid": sid, "host": host},
            queue=host_queue(PROBE_QUEUE, host),
            countdown=countdown or None,
            ignore_result=True,
        )

    def probe_all(self, host: HostId | None = None) -> None:
        host = host or self.host
        self.app.send_task(
            PROBE_ALL,
            kwargs={"host": host},
            queue=host_queue(PROBE_QUEUE, host),
            ignore_result=True,
        )

    def cleanup(self, source: Source, request_id: str, host: HostId | None = None) -> None:
        """The disk repair on demand; the request id is also the task id."""
        host = host or self.host
        self.app.send_task(
            REPAIR_CLEANUP,
            kwargs={"source": source.value, "request_id": request_id, "host": host},
            task_id=request_id,
            queue=host_queue(REPAIR_QUEUE, host),
        )

    def scale(
        self,
        sid: ServiceId,
        replicas: int,
        source: Source,
        request_id: str,
        host: HostId | None = None,
        force: bool = False,
    ) -> str:
        """`replicas=-1`: one more than the service runs when the task executes. Returns the
        task id; its result (the scale outcome) is kept for a caller that waits."""
        host = host or self.host
        kwargs = {"sid": str(sid), "replicas": replicas, "force": force, "source": source.value}
        self.app.send_task(
            SCALE_SERVICE,
            kwargs={**kwargs, "host": host, "request_id": request_id},
            task_id=request_id,
            queue=host_queue(SCALE_QUEUE, host),
        )
        return request_id

    def scale_result(self, task_id: str, timeout: float) -> dict[str, object]:
        """Wait for a scale task's outcome (another host's engine is its agent's to change)."""
        out: dict[str, object] = self.app.AsyncResult(task_id).get(timeout=timeout)
        return out

    def probe_service(
        self,
        sid: ServiceId,
        event_time: float | None,
        action: str,
        container_id: str = "",
        host: HostId | None = None,
    ) -> None:
        host = host or self.host
        kwargs = {"sid": sid, "event_time": event_time, "action": action, "host": host}
        if container_id:
            kwargs["container_id"] = container_id
        self.app.send_task(
            PROBE_SERVICE, kwargs=kwargs, queue=host_queue(PROBE_QUEUE, host), ignore_result=True
        )

    def boot(self, project: str, reason: str, host: HostId | None = None) -> None:
        """One ordered recovery of ``project`` on `host`'s engine (this process's by
        default); its task id says which, in Flower."""
        host = host or self.host
        self.app.send_task(
            REPAIR_BOOT,
            kwargs={"project": project, "reason": reason, "host": host},
            task_id=f"boot-{host}-{project}-{uuid.uuid4().hex[:8]}",
            queue=host_queue(REPAIR_QUEUE, host),
        )
