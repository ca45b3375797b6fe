"""Request records: an acknowledged repair request (API, CLI, alert) is written here before
it is queued, and the repair writes its outcome here when it ends, so `GET /requests/{id}`
and `healer repair --wait` always find an answer. TTL keys.REQUEST_TTL."""

from __future__ import annotations

import time
import uuid

import redis

from healer.adapters.redisha.replication import replicate
from healer.adapters.store import keys


class RequestStore:
    def __init__(self, r: redis.Redis, wait_replicas: int = 0, wait_timeout: float = 0.1) -> None:
        self.r = r
        self._wait = (wait_replicas, wait_timeout)

    def replicated(self, request_id: str) -> bool:
        """Whether the record, and the task queued before this call, are on the replicas
        the settings ask for (always true without Sentinel: no replica is asked for)."""
        wanted, timeout = self._wait
        if wanted <= 0:
            return True
        acks = replicate(self.r, keys.request(request_id), keys.REQUEST_TTL, wanted, timeout)
        return acks >= wanted

    def open(self, service: str, action: str, source: str, **extra: str) -> str:
        """A new record with status `queued`; returns its id (also the Celery task id)."""
        request_id = uuid.uuid4().hex
        self._write(
            request_id,
            {
                "status": "queued",
                "service": service,
                "action": str(action),
                "source": str(source),
                "queued_at": repr(time.time()),
                **extra,
            },
        )
        return request_id

    def close(self, request_id: str, outcome: str, reason: str, detail: str) -> None:
        """The outcome, written once when the work ends (status `done`)."""
        self._write(
            request_id,
            {
                "status": "done",
                "outcome": str(outcome),
                "reason": reason,
                "detail": detail,
                "finished_at": repr(time.time()),
            },
        )

    def progress(self, request_id: str, text: str) -> None:
        """How far a rolling repair has gone (status `acting`, until it is closed)."""
        self._write(request_id, {"status": "acting", "progress": text})

    def grant_force(self, request_id: str) -> None:
        """Let the scale of `request_id` go past min/max. Only a user allowed `healer:grant:*`
        can: the worker's and the single-host user, never the API's."""
        self.r.set(keys.force_grant(request_id), "1", ex=keys.REQUEST_TTL)

    def take_force_grant(self, request_id: str) -> bool:
        """Whether the scale of `request_id` was granted force; the grant is used up."""
        return bool(request_id) and self.r.getdel(keys.force_grant(request_id)) is not None

    def get(self, request_id: str) -> dict[str, str]:
        """The record, or {} when unknown or expired."""
        return dict(self.r.hgetall(keys.request(request_id)))

    def _write(self, request_id: str, fields: dict[str, str]) -> None:
        key = keys.request(request_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, keys.REQUEST_TTL)
        pipe.execute()
