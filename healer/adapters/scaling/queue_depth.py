"""Celery queue depth and worker control on the Redis broker: the queue metric and the drain.

Backlog is read straight from the broker (LLEN of every priority sub-list, one pipeline);
tasks already handed to workers are invisible there, so reserved and active tasks are asked
of the workers themselves over Celery's remote control, with a bounded timeout.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import Celery
from kombu.transport.redis import PRIORITY_STEPS, Channel

log = logging.getLogger("healer.queue_depth")

# kombu's Redis transport keeps one list per priority step: `queue` for step 0, then
# `queue` + Channel.sep + step (`queue\x06\x163`, …). Mirrors Channel._q_for_pri.
PRIORITY_SEP: str = Channel.sep


def priority_keys(queue: str, steps: Sequence[int] = PRIORITY_STEPS, prefix: str = "") -> list[str]:
    """Every broker list holding messages of `queue` (prefix: kombu's `global_keyprefix`)."""
    return [prefix + (queue if pri == 0 else f"{queue}{PRIORITY_SEP}{pri}") for pri in steps]


@dataclass(frozen=True)
class WorkerLoad:
    """Tasks of the named queues that workers hold: prefetched (reserved) or running."""

    reserved: int = 0
    active: int = 0
    workers: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueDepth:
    backlog: int
    per_queue: dict[str, int]
    reserved: int = 0
    active: int = 0
    warnings: tuple[str, ...] = field(default=())
    # False when the workers were not asked: the backlog alone already filled the ceiling.
    inspected: bool = True

    @property
    def in_flight(self) -> int:
        return self.reserved + self.active


def count_tasks(
    replies: Mapping[str, Iterable[Mapping[str, Any]]] | None, queues: Iterable[str]
) -> int:
    """Tasks in inspect replies whose delivery routed them from one of `queues`."""
    wanted = set(queues)
    total = 0
    for tasks in (replies or {}).values():
        for task in tasks or ():
            info = task.get("delivery_info") or {}
            if info.get("routing_key") in wanted or info.get("queue") in wanted:
                total += 1
    return total


def _reserved_warning(reserved: int) -> tuple[str, ...]:
    if not reserved:
        return ()
    return (
        f"{reserved} task(s) reserved (prefetched) by workers: they are not in the broker "
        "backlog; with worker_prefetch_multiplier > 1 a busy worker hides its backlog",
    )


class CeleryQueues:
    """The broker side (`r`, the broker's Redis db) and the worker side (`app.control`)."""

    def __init__(self, r: redis.Redis, app: Celery, inspect_timeout: float = 1.0) -> None:
        self.r = r
        self.app = app
        self.inspect_timeout = inspect_timeout
        options = dict(app.conf.broker_transport_options or {})
        self.steps: Sequence[int] = options.get("priority_steps", PRIORITY_STEPS)
        self.prefix: str = options.get("global_keyprefix", "")

    def backlog(self, queues: Sequence[str]) -> dict[str, int]:
        pipe = self.r.pipeline(transaction=False)
        for q in queues:
            for key in priority_keys(q, self.steps, self.prefix):
                pipe.llen(key)
        sizes = iter(pipe.execute())
        per_step = len(self.steps)
        return {q: sum(int(next(sizes)) for _ in range(per_step)) for q in queues}

    def worker_load(self, queues: Sequence[str], nodes: Sequence[str] | None = None) -> WorkerLoad:
        inspect = self.app.control.inspect(
            timeout=self.inspect_timeout, destination=list(nodes) if nodes else None
        )
        reserved_replies = inspect.reserved() or {}
        active_replies = inspect.active() or {}
        reserved = count_tasks(reserved_replies, queues)
        workers = tuple(sorted(set(reserved_replies) | set(active_replies)))
        return WorkerLoad(
            reserved=reserved,
            active=count_tasks(active_replies, queues),
            workers=workers,
            warnings=_reserved_warning(reserved),
        )

    def measure(self, queues: Sequence[str], enough: float = math.inf) -> QueueDepth:
        """Backlog and tasks in flight. With a backlog of at least `enough` (the load that
        already asks for the service's max replicas) the workers are not inspected: tasks in
        flight could only add to it, and each inspect broadcast waits its whole timeout for
        replies, which is most of a cycle's time when a burst needs capacity now."""
        per_queue = self.backlog(queues)
        backlog = sum(per_queue.values())
        if backlog >= enough:
            return QueueDepth(backlog=backlog, per_queue=per_queue, inspected=False)
        try:
            load = self.worker_load(queues)
        except Exception as exc:  # control needs the broker too; the backlog alone still counts
            load = WorkerLoad(warnings=(f"could not inspect workers: {exc}",))
        return QueueDepth(
            backlog=backlog,
            per_queue=per_queue,
            reserved=load.reserved,
            active=load.active,
            warnings=load.warnings,
        )

    # --- drain ------------------------------------------------------------------------

    def drain(
        self, hosts: Mapping[str, str], queues: Sequence[str], timeout: float
    ) -> dict[str, str]:
        """Drain the Celery worker of each host: stop consuming, wait (bounded by `timeout`)
        until it holds no task. `hosts` maps a key (container id) to the container's hostname;
        returns one note per key saying what happened."""
        notes, targets = self._match_nodes(hosts)
        for node in targets.values():
            consumed = self.consumed_queues(node) or list(queues)
            confirmed = self.stop_consuming(node, consumed)
            if len(confirmed) < len(consumed):
                missing = sorted(set(consumed) - set(confirmed))
                log.warning("%s did not confirm cancel_consumer for %s", node, missing)
        busy = set(self.wait_idle(sorted(set(targets.values())), timeout))
        for key, node in targets.items():
            notes[key] = (
                f"{node} still busy after {timeout:g}s; stopped anyway (its unfinished "
                "tasks are redelivered: late acks)"
                if node in busy
                else f"drained {node} (stopped consuming, no task left)"
            )
        return notes

    def _match_nodes(self, hosts: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """(notes for hosts with no single worker, key → node name for the others)."""
        nodes = self.nodes()
        notes: dict[str, str] = {}
        targets: dict[str, str] = {}
        for key, host in hosts.items():
            # Celery's default node name is celery@<hostname>; `-n x@%h` keeps the host part.
            matches = [n for n in nodes if n.partition("@")[2] == host]
            if len(matches) == 1:
                targets[key] = matches[0]
            elif not matches:
                notes[key] = f"no Celery worker answers on host {host!r}; nothing to drain"
            else:
                # Shared hostname (network_mode: host, or a fixed `hostname:`): draining by
                # name could stop the wrong worker, so leave it to the stop's warm shutdown.
                notes[key] = (
                    f"workers {', '.join(matches)} share host {host!r}; not drained, "
                    "stopped with its stop timeout (warm shutdown)"
                )
        return notes, targets

    def nodes(self) -> list[str]:
        """Names of the workers answering a ping within the inspect timeout."""
        replies = self.app.control.ping(timeout=self.inspect_timeout) or []
        return sorted(name for reply in replies for name in reply)

    def consumed_queues(self, node: str) -> list[str]:
        replies = self.app.control.inspect(
            timeout=self.inspect_timeout, destination=[node]
        ).active_queues()
        return sorted({q["name"] for q in (replies or {}).get(node) or [] if q.get("name")})

    def stop_consuming(self, node: str, queues: Sequence[str]) -> list[str]:
        """Ask `node` to stop taking tasks from `queues`; returns the queues it confirmed."""
        confirmed: list[str] = []
        for q in queues:
            replies = self.app.control.cancel_consumer(
                q, destination=[node], reply=True, timeout=self.inspect_timeout
            )
            if any(node in reply and "ok" in reply[node] for reply in replies or []):
                confirmed.append(q)
        return confirmed

    def wait_idle(self, nodes: Sequence[str], timeout: float, poll: float = 0.5) -> list[str]:
        """Wait until `nodes` hold no task (reserved or active); returns those still busy."""
        deadline = time.monotonic() + timeout
        busy = list(nodes)
        while busy:
            busy = self._busy(busy)
            if not busy or time.monotonic() >= deadline:
                return busy
            time.sleep(poll)
        return busy

    def _busy(self, nodes: Sequence[str]) -> list[str]:
        inspect = self.app.control.inspect(timeout=self.inspect_timeout, destination=list(nodes))
        active = inspect.active() or {}
        reserved = inspect.reserved() or {}
        # A node that stops answering is gone, not busy: nothing is left to wait for.
        return sorted(n for n in nodes if active.get(n) or reserved.get(n))
