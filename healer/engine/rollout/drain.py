"""Taking a replica out of service before a planned repair stops it: for a Celery worker
(`healer.scale.drain: celery`), the drain that scale-down does (stop consuming, wait until it
holds no task, bounded by HEALER_SCALE_DRAIN_TIMEOUT). A replica that is failing already is
not drained: it serves nothing, and the repair must not wait on it."""

from __future__ import annotations

import socket
from collections.abc import Callable

from healer.adapters.queue import make_celery
from healer.core.container_state import ContainerState
from healer.core.model import ContainerId
from healer.core.scaling.labels import parse_scale_labels
from healer.engine.context import Healer

Drain = Callable[[ContainerId, ContainerState], str]
"""Drain one replica before it is stopped; returns a note for the repair's record."""


def celery_drain(h: Healer, info: ContainerState) -> Drain | None:
    """The drain of the service `info` is a replica of, or None when it has none."""
    cfg = parse_scale_labels(dict(info.labels))
    if cfg.drain != "celery":
        return None

    def drain(cid: ContainerId, replica: ContainerState) -> str:
        hostname = replica.hostname
        if hostname == socket.gethostname():
            return ""  # the worker running this repair: draining it would stall the repair
        queues = h.stores.celery_queues(make_celery(h.settings))
        notes = queues.drain({str(cid): hostname}, cfg.queues, h.settings.scale_drain_timeout)
        return notes.get(str(cid), "")

    return drain
