"""The healer's own Celery queues, named once: the Celery config (adapters.queue), the
worker command line (supervisor) and the autoscaler's default for the healer's own worker
service (scale_labels) all read them here. Public names: deployments route by them.

The three shared queues carry cluster-wide work and tasks that name no host; work for one
Docker host goes to that host's own queue of each kind (host_queue)."""

from __future__ import annotations

PROBE_QUEUE = "healer.probe"
REPAIR_QUEUE = "healer.repair"
SCALE_QUEUE = "healer.scale"
QUEUES = (PROBE_QUEUE, REPAIR_QUEUE, SCALE_QUEUE)


def host_queue(queue: str, host: str) -> str:
    """A host's own queue of a kind, e.g. `healer.repair@node-b`: only that host's workers
    consume it, so work for a host runs where its engine is."""
    return f"{queue}@{host}"


def host_queues(host: str) -> tuple[str, ...]:
    return tuple(host_queue(q, host) for q in QUEUES)


def split_queue(name: str) -> tuple[str, str]:
    """`healer.repair@node-b` → (`healer.repair`, `node-b`); a shared queue has host ""."""
    queue, _, host = name.partition("@")
    return queue, host
