"""The healer's own Celery queues, named once: the Celery config (adapters.queue), the
worker command line (supervisor) and the autoscaler's default for the healer's own worker
service (scale_labels) all read them here. Public names: deployments route by them."""

from __future__ import annotations

PROBE_QUEUE = "healer.probe"
REPAIR_QUEUE = "healer.repair"
SCALE_QUEUE = "healer.scale"
QUEUES = (PROBE_QUEUE, REPAIR_QUEUE, SCALE_QUEUE)
