"""The repair guard in Redis: owner-token locks and atomic claims of a repair slot.

The decision itself is `backoff.decide` (pure); this module only makes read → decide → write
atomic with WATCH/MULTI so any number of workers, beats and retries agree on one outcome.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import redis

from healer.adapters.redisha.replication import replicate
from healer.adapters.store import keys
from healer.adapters.store.repair_limit import RepairLimiter
from healer.core.model import Condition, HostId, ServiceId
from healer.core.repair.backoff import Decision, Episode, RestartPolicy, Verdict, decide
from healer.core.repair.concurrency import LimitState

log = logging.getLogger("healer.guard")

# Delete only if we still own it: a lock that expired and was re-taken is someone else's.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class Lock:
    def __init__(self, r: redis.Redis, key: str, ttl: float) -> None:
        self._r = r
        self.key = key
        self.ttl_ms = int(ttl * 1000)
        self.token = secrets.token_hex(16)
        self._release = r.register_script(_RELEASE)
        self._extend = r.register_script(_EXTEND)

    def acquire(self) -> bool:
        return bool(self._r.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def release(self) -> bool:
        return bool(self._release(keys=[self.key], args=[self.token]))

    def extend(self, ttl: float | None = None) -> bool:
        """Reset the TTL (to `ttl` seconds if given) if we still own the lock."""
        ms = self.ttl_ms if ttl is None else int(ttl * 1000)
        return bool(self._extend(keys=[self.key], args=[self.token, ms]))


@contextmanager
def service_lock(r: redis.Redis, host: HostId, sid: ServiceId, ttl: float) -> Iterator[Lock | None]:
    """Yields the held lock, or None when another repair of this service is in flight."""
    lock = Lock(r, keys.lock(host, sid), ttl)
    if not lock.acquire():
        yield None
        return
    try:
        yield lock
    finally:
        lock.release()


def read_episode(r: redis.Redis, host: HostId, sid: ServiceId, condition: Condition) -> Episode:
    return episode_from_hash(r.hgetall(keys.episode(host, sid, condition)))


def episode_from_hash(h: dict[str, str]) -> Episode:
    def f(name: str) -> float | None:
        v = h.get(name)
        return float(v) if v not in (None, "") else None

    return Episode(
        attempts=int(h.get("attempts", 0) or 0),
        last_repair_at=f("last_repair_at"),
        started_at=f("started_at"),
        quarantined_at=f("quarantined_at"),
        last_request=h.get("last_request", ""),
    )


def _episode_to_hash(e: Episode) -> dict[str, str]:
    def s(v: float | None) -> str:
        return "" if v is None else repr(v)

    return {
        "attempts": str(e.attempts),
        "last_repair_at": s(e.last_repair_at),
        "started_at": s(e.started_at),
        "quarantined_at": s(e.quarantined_at),
        "last_request": e.last_request,
    }


def claim(
    r: redis.Redis,
    host: HostId,
    sid: ServiceId,
    condition: Condition,
    policy: RestartPolicy,
    now: float,
    *,
    request_id: str = "",
    ttl: float,
) -> Decision:
    """Atomically decide and, for ACT or QUARANTINE, store the new episode state."""
    key = keys.episode(host, sid, condition)
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                episode = episode_from_hash(pipe.hgetall(key))
                decision = decide(policy, episode, now, request_id)
                pipe.multi()
                if decision.verdict in (Verdict.ACT, Verdict.QUARANTINE):
                    pipe.hset(key, mapping=_episode_to_hash(decision.episode))
                if decision.verdict != Verdict.WAIT or episode.attempts:
                    pipe.expire(key, int(ttl))
                pipe.execute()
                return decision
            except redis.WatchError:
                continue


def reset(r: redis.Redis, host: HostId, sid: ServiceId) -> int:
    """End every episode of the service (and its quarantine). Returns keys removed."""
    names = list(r.scan_iter(match=keys.episode_pattern(host, sid), count=100))
    names.append(keys.healthy_since(host, sid))
    return int(r.delete(*names))


class Guard:
    """The guard as the engine sees it: one object per Redis and host, no client handed out.
    Locks, episodes and repair slots (the limiter's) are the host's own (keys.lock(host, …))."""

    def __init__(
        self,
        r: redis.Redis,
        limiter: RepairLimiter,
        wait_replicas: int = 0,
        wait_timeout: float = 0.1,
    ) -> None:
        self._r = r
        self.host = limiter.host
        self._limiter = limiter
        self._wait = (wait_replicas, wait_timeout)

    def service_lock(self, sid: ServiceId, ttl: float) -> AbstractContextManager[Lock | None]:
        """The held lock, or None when another action on this service is in flight."""
        return service_lock(self._r, self.host, sid, ttl)

    def lock_left(self, sid: ServiceId) -> float:
        """Seconds left of the service lock's lease (0 when it is free)."""
        return max(0.0, float(self._r.pttl(keys.lock(self.host, sid))) / 1000)

    def action_lock(self, sid: ServiceId, ttl: float) -> Lock:
        """The same per-service lock, unheld, for callers that wait for it (scaling)."""
        return Lock(self._r, keys.lock(self.host, sid), ttl)

    def claim(
        self,
        sid: ServiceId,
        condition: Condition,
        policy: RestartPolicy,
        now: float,
        *,
        request_id: str = "",
        ttl: float,
    ) -> Decision:
        decision = claim(
            self._r, self.host, sid, condition, policy, now, request_id=request_id, ttl=ttl
        )
        if decision.verdict == Verdict.ACT and self._wait[0] > 0:
            self._confirm(keys.episode(self.host, sid, condition), ttl, sid)
        return decision

    def _confirm(self, key: str, ttl: float, sid: ServiceId) -> None:
        """Bound the failover window: the claim is on a replica before the repair acts. Not
        confirmed in time, the repair still acts (it is what the service needs; refusing
        would stop every repair while replication lags), and the fact is counted."""
        wanted, timeout = self._wait
        acks = replicate(self._r, key, ttl, wanted, timeout)
        if acks < wanted:
            self._r.incr(keys.UNREPLICATED_CLAIMS)
            log.warning(
                "claim of %s/%s on %d of %d replicas after %.0f ms; acting anyway (a failover "
                "now could let one more repair through)",
                self.host,
                sid,
                acks,
                wanted,
                timeout * 1000,
            )

    def take_slot(self, now: float) -> str | None:
        """A repair slot's owner token, or None when the adaptive limit's slots are in use."""
        slot = self._limiter.acquire(now)
        return slot.token if slot is not None else None

    def release_slot(self, token: str) -> None:
        self._limiter.release(token)

    def report_action(self, latency: float, ok: bool, now: float, grace: float = math.inf) -> None:
        """One engine action of a repair, for the adaptive limit (call it holding the slot)."""
        self._limiter.observe(latency, ok, now, grace)

    def limit_state(self) -> LimitState:
        """The adaptive limit as stored (its cost and best say how slow the engine is)."""
        return self._limiter.state()

    def extend_slot(self, token: str, now: float, ttl: float) -> None:
        """A long repair keeps its slot for its whole budget (see RepairLimiter.extend)."""
        self._limiter.extend(token, now, ttl)

    def reset(self, sid: ServiceId) -> int:
        return reset(self._r, self.host, sid)
