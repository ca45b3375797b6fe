"""Every error the healer raises on purpose is one kind (healer.errors): what the caller does
next - retry later, refuse with a 4xx, or wait for something that is down - follows from it."""

from __future__ import annotations

import pytest
import redis

from healer.adapters.docker.engine import ContainerGone, EngineError, EngineUnreachable
from healer.adapters.store.connection import StoreUnavailable
from healer.core.actions import UnknownAction
from healer.core.hosts import AmbiguousService, UnknownService
from healer.engine.repair.manual import EnqueueFailed
from healer.engine.repair.run import Busy, SlotsFull
from healer.engine.scaling.cycle import ScaleError
from healer.engine.status import HostDown
from healer.errors import HealerError, Refused, RetryLater, Unavailable

KINDS = (RetryLater, Refused, Unavailable)


@pytest.mark.parametrize(
    ("error", "kind", "status"),
    [
        (Busy(1.5), RetryLater, None),
        (SlotsFull(0.3), RetryLater, None),
        (UnknownAction("explode", ()), Refused, 422),
        (UnknownService("no service web"), Refused, 404),
        (AmbiguousService("web is in two projects", ("a/web", "b/web")), Refused, 409),
        (ScaleError("no container"), Refused, 409),
        (HostDown("host h2 is down"), Unavailable, None),
        (EnqueueFailed("broker down"), Unavailable, None),
        (EngineUnreachable("no engine"), Unavailable, None),
        (StoreUnavailable("Redis unavailable"), Unavailable, None),
    ],
)
def test_each_error_is_exactly_one_kind(
    error: HealerError, kind: type[HealerError], status: int | None
) -> None:
    assert [k for k in KINDS if isinstance(error, k)] == [kind]
    if status is not None:
        assert isinstance(error, Refused) and error.status == status


def test_retry_later_carries_its_delay() -> None:
    assert Busy(2.5, held_for=7).retry_after == 2.5
    assert SlotsFull(0.4).retry_after == 0.4


def test_engine_failures_that_are_not_outages_are_no_kind() -> None:
    # A refused or failed engine call is the repair's failed outcome, not "wait and retry".
    for error in (EngineError("500 from the engine", status=500), ContainerGone("gone")):
        assert not any(isinstance(error, k) for k in KINDS)


def test_a_lost_redis_stays_a_redis_connection_error() -> None:
    # Celery's autoretry_for=(redis.ConnectionError,) and `except redis.RedisError` keep working.
    assert issubclass(StoreUnavailable, redis.ConnectionError)
