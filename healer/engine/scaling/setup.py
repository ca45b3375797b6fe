"""What the cycle and an operator's scale share: the collaborators, the service's parsed
labels, and the replica count (at zero, only running replicas count)."""

from __future__ import annotations

import socket

from healer.adapters.queue import make_celery
from healer.core.model import ServiceView
from healer.core.scaling.labels import ScaleConfig, parse_scale_labels
from healer.engine.context import Healer
from healer.engine.scaling.apply import QueueSource, ScaleContext, ScalerOptions


def context(
    h: Healer,
    queues: QueueSource | None,
    options: ScalerOptions | None,
    self_host: str | None,
) -> ScaleContext:
    return ScaleContext(
        h,
        queues if queues is not None else h.stores.celery_queues(make_celery(h.settings)),
        options or ScalerOptions.from_settings(h.settings),
        self_host or socket.gethostname(),
    )


def config(h: Healer, view: ServiceView) -> ScaleConfig:
    s = h.settings
    return parse_scale_labels(
        view.labels,
        min_replicas=s.min_replicas,
        max_replicas=s.max_replicas,
        cap=s.max_replicas_cap,
    )


def replicas(view: ServiceView, parked: bool) -> int:
    """At zero the kept template is stopped: only running replicas count."""
    if parked:
        return sum(1 for c in view.containers if c.state == "running")
    return len(view.containers)
