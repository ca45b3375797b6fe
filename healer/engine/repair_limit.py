"""The repair path's side of the adaptive concurrency limit: the policy from Settings, a slot
waited for briefly in the worker, and the engine's latency reported after each action."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from healer.adapters.docker_engine import ContainerGone, EngineError
from healer.adapters.repair_limit import RepairLimiter, Slot
from healer.core.concurrency import LimitPolicy
from healer.engine.context import Healer
from healer.settings import Settings

log = logging.getLogger("healer.repair_limit")

# Seconds a repair waits for a slot inside its worker before it goes back to the queue (as
# a Celery retry). Short polls keep the slots full while one frees every few hundred ms in a
# mass failure; a retry through the broker costs a round trip and loses the repair's place.
SLOT_WAIT = 3.0
SLOT_POLL = 0.05


def policy(s: Settings) -> LimitPolicy:
    cap = s.repair_concurrency
    if not s.repair_adaptive:
        return LimitPolicy(cap=cap, floor=cap, initial=cap)
    # An action still running at half the Docker call timeout is overload whatever its ratio.
    return LimitPolicy(cap=cap, max_latency=s.docker_timeout / 2)


def limiter(h: Healer) -> RepairLimiter:
    return RepairLimiter(h.redis, policy(h.settings), h.settings.lock_ttl)


def take_slot(h: Healer, wait: float = SLOT_WAIT) -> Slot | None:
    """A slot within `wait` seconds, or None: the caller retries later."""
    lim = limiter(h)
    deadline = time.monotonic() + wait
    while True:
        slot = lim.acquire(h.clock())
        if slot is not None or time.monotonic() >= deadline:
            return slot
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
        limiter(h).observe(latency, ok, h.clock(), grace)
    except redis.RedisError as exc:
        log.warning("repair limit not updated: %s", exc)
