"""A redelivered repair request acts at most once, against the real engine and Redis.

The loop this prevents: `POST /repair/healer-worker` makes the worker restart its own
container; the task is acked late, so it is redelivered to the restarted worker, which must not
restart itself again (and again).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from docker.models.containers import Container

from healer.adapters.store import keys
from healer.core.labels import parse_service_labels
from healer.core.model import (
    Action,
    Condition,
    HostId,
    RepairRequest,
    ServiceId,
    Source,
    service_id,
)
from healer.core.repair.backoff import Verdict
from healer.engine import context
from healer.engine.repair.run import repair
from healer.settings import Settings
from tests.support import (
    ComposeFactory,
    ComposeProject,
    EventRecorder,
    EventsFactory,
    compose_yaml,
    healthy_service_yaml,
)
from tests.support.healer import NoDispatch


class _NoDispatch(NoDispatch):
    def repair(self, request: RepairRequest, countdown: float = 0) -> str:
        raise AssertionError(f"no repair is enqueued here: {request}")

    def probe(self, sid: ServiceId, countdown: float = 0, host: HostId | None = None) -> None:
        raise AssertionError(f"no probe is enqueued here: {sid}")


def _healer(redis_url: str, project: str, log_dir: Path) -> context.Healer:
    settings = Settings(
        redis_url=redis_url, projects=project, log_dir=str(log_dir), verify_timeout=3
    )
    return context.build(settings, _NoDispatch())


def _request(project: str, request_id: str) -> RepairRequest:
    sid = service_id(project, "web")
    return RepairRequest(sid, Condition.MANUAL, Action.RESTART, (), "test", Source.API, request_id)


@dataclass
class Web:
    """A running `web` service, the engine's events of it, and a healer on both."""

    project: ComposeProject
    rec: EventRecorder
    h: context.Healer


@pytest.fixture
def web(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    redis_url: str,
    test_image: str,
    tmp_path: Path,
) -> Web:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    return Web(project, docker_events(project.name), _healer(redis_url, project.name, tmp_path))


def test_a_redelivered_request_does_not_act_again(web: Web) -> None:
    project, rec, h = web.project, web.rec, web.h
    first = repair(h, _request(project.name, "req-1"))
    assert first.outcome == "acted", first
    rec.wait_for("restart", "web", timeout=30)
    # The same request again, as Celery redelivers it when the worker died before its ack
    # (here: the worker that restarted its own container).
    again = repair(h, _request(project.name, "req-1"))
    assert again.outcome == "acted" and again.reason.startswith("redelivered"), again
    assert "not repeated" in again.detail
    # A new request is a new decision: inside the cooldown it waits instead of acting.
    other = repair(h, _request(project.name, "req-2"))
    assert other.outcome == "skipped" and other.reason == "cooldown", other
    _settle(project.container("web"), rec)
    assert len(rec.events("restart", "web")) == 1, rec.describe()
    records = h.history.query(service=service_id(project.name, "web"))
    assert [r.request_id for r in records].count("req-1") == 2


def test_a_request_lost_before_acting_is_not_acted_by_its_redelivery(
    web: Web, redis_client: redis.Redis
) -> None:
    project, rec, h = web.project, web.rec, web.h
    req = _request(project.name, "req-lost")
    policy = h.defaults.restart_policy(parse_service_labels({}), req.condition)
    # The first delivery claimed the slot and died before its restart reached the engine.
    claimed = h.guard.claim(
        req.sid, req.condition, policy, h.clock(), request_id="req-lost", ttl=600
    )
    assert claimed.verdict == Verdict.ACT
    again = repair(h, req)
    assert again.outcome == "failed" and again.reason.startswith("redelivered"), again
    assert "did not take effect" in again.detail
    _settle(project.container("web"), rec)
    assert rec.events("restart", "web") == [] and rec.events("start", "web") == []
    assert redis_client.hget(keys.request(req.request_id), "outcome") == "failed"


def _settle(container: Container, rec: EventRecorder) -> None:
    """A marker event after the repairs: every event they caused has been seen before it."""
    container.kill(signal="SIGWINCH")  # busybox sh ignores it
    rec.wait_for("kill", "web", timeout=30)
