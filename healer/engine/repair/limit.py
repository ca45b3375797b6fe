"""The repair path's side of the adaptive concurrency limit (healer.core.repair.concurrency): a slot
waited for briefly in the worker, and the engine's latency reported after each action. The
limit itself and its shared state are the guard's (healer.adapters.store.repair_limit)."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from healer.adapters.docker.engine import ContainerGone, EngineError
from healer.engine.context import Healer

log = logging.getLogger("healer.repair_limit")

# Seconds a repair waits for a slot inside its worker before it goes back to the queue (as
# a Celery retry). Short polls keep the slots full while one frees every few hundred ms in a
# mass failure; a retry through the broker costs a round trip and loses the repair's place.
SLOT_WAIT = 3.0
SLOT_POLL = 0.05


def wait_for_slot(h: Healer, wait: float = SLOT_WAIT) -> str | None:
    """A slot's owner token within `wait` seconds, or None: the caller retries later."""
    deadline = time.monotonic() + wait
    while True:
        token = h.guard.take_slot(h.clock())
        if token is not None or time.monotonic() >= deadline:
            return token
        time.sleep(SLOT_POLL * (0.5 + random.random()))  # jitter: no lock-step herd


@contextmanager
def timed_action(h: Healer, grace: float = math.inf) -> Iterator[None]:
    """Time one engine action and fold its latency into the limit; a container that vanished
    says nothing about the engine. A failed report never fails the repair."""
    started = time.monotonic()
    try:
        yield
    except ContainerGone:
        raise
    except EngineError:
        _report(h, time.monotonic() - started, False, grace)
        raise
    _report(h, time.monotonic() - started, True, grace)


def _report(h: Healer, latency: float, ok: bool, grace: float) -> None:
    try:
        h.guard.report_action(latency, ok, h.clock(), grace)
    except redis.RedisError as exc:
        log.warning("repair limit not updated: %s", exc)
