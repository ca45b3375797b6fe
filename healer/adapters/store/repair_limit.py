"""The adaptive repair concurrency limit in Redis: slots taken against the current limit in
one Lua call, and each engine action folded into the limit and its throughput window
(healer.core.repair.concurrency, pure) with WATCH/MULTI, so every worker and thread shares
one limit.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import redis

from healer.adapters.store import keys
from healer.core.model import HostId
from healer.core.repair.concurrency import LimitPolicy, LimitState, Sample, Tally, update
from healer.settings import Settings

LIMIT_TTL = 3600

# Expired slots (their worker died) go first. The limit is the stored one, or `initial`;
# allowed = max(lowest, min(cap, floor(limit))), as healer.core.repair.concurrency.allowed
# computes it.
_ACQUIRE = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
local limit = tonumber(redis.call('hget', KEYS[2], 'limit') or '') or tonumber(ARGV[3])
if limit ~= limit then limit = tonumber(ARGV[3]) end
local allowed = math.max(tonumber(ARGV[4]), math.min(tonumber(ARGV[2]), math.floor(limit)))
local used = redis.call('zcard', KEYS[1])
if used < allowed then
  redis.call('zadd', KEYS[1], ARGV[5], ARGV[6])
  redis.call('pexpire', KEYS[1], ARGV[7])
  return {1, used + 1, allowed}
end
return {0, used, allowed}
"""


@dataclass(frozen=True)
class Slot:
    token: str
    in_flight: int  # slots held right after this one was taken
    allowed: int


def policy_from(s: Settings) -> LimitPolicy:
    """HEALER_REPAIR_CONCURRENCY is the cap; without adaptation it is also the floor."""
    cap = s.repair_concurrency
    if not s.repair_adaptive:
        return LimitPolicy(cap=cap, floor=cap, initial=cap)
    # An action still running at half the Docker call timeout is overload whatever its ratio.
    return LimitPolicy(cap=cap, max_latency=s.docker_timeout / 2)


class RepairLimiter:
    """Slots for repairs acting on one host's engine, as many as that engine's adaptive
    limit allows: hosts never share a limit or slots."""

    def __init__(self, r: redis.Redis, policy: LimitPolicy, slot_ttl: float, host: HostId) -> None:
        self.r = r
        self.host = host
        self._slots_key = keys.repair_slots(host)
        self._limit_key = keys.repair_limit(host)
        self.policy = policy
        self.slot_ttl = slot_ttl
        self._acquire = r.register_script(_ACQUIRE)

    def acquire(self, now: float) -> Slot | None:
        token = secrets.token_hex(8)
        p = self.policy
        args = [now, p.cap, p.start().limit, p.lowest, now + self.slot_ttl, token]
        got, used, allowed = self._acquire(
            keys=[self._slots_key, self._limit_key], args=[*args, int(self.slot_ttl * 1000)]
        )
        return Slot(token, int(used), int(allowed)) if got else None

    def release(self, token: str) -> None:
        self.r.zrem(self._slots_key, token)

    def extend(self, token: str, now: float, ttl: float) -> None:
        """Push a held slot's expiry to `now + ttl` (XX: a slot that expired stays free), and
        the key's own TTL past it."""
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(self._slots_key, {token: now + ttl}, xx=True)
        pipe.pexpire(self._slots_key, int(ttl * 1000) + 1000)
        pipe.execute()

    def observe(self, latency: float, ok: bool, now: float, grace: float = math.inf) -> LimitState:
        """Fold one engine action into the limit; call it while still holding the slot."""
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self._limit_key)
                    state = decode(pipe.hgetall(self._limit_key)) or self.policy.start()
                    in_flight = int(pipe.zcount(self._slots_key, now, "+inf"))
                    sample = Sample(latency, max(1, in_flight), ok, now, grace)
                    new = update(self.policy, state, sample)
                    pipe.multi()
                    pipe.hset(self._limit_key, mapping=encode(new))
                    pipe.expire(self._limit_key, LIMIT_TTL)
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue

    def state(self) -> LimitState:
        return decode(self.r.hgetall(self._limit_key)) or self.policy.start()


def encode(s: LimitState) -> dict[str, str]:
    def f(v: float | None) -> str:
        return "" if v is None else repr(v)

    return {
        "limit": repr(s.limit),
        "slow_start": "1" if s.slow_start else "0",
        "cost": f(s.cost),
        "best": f(s.best),
        "best_at": repr(s.best_at),
        "best_in_flight": repr(s.best_in_flight),
        "decreased_at": repr(s.decreased_at) if math.isfinite(s.decreased_at) else "",
        **(_encode_tally(s.tally) if s.tally is not None else {}),
    }


def _encode_tally(t: Tally) -> dict[str, str]:
    return {
        "win_first": repr(t.first),
        "win_last": repr(t.last),
        "win_done": str(t.done),
        "win_in_flight": str(t.in_flight),
        "win_latency": repr(t.latency),
        "win_graced": str(t.graced),
    }


def _decode_tally(h: dict[str, str]) -> Tally | None:
    """None without one (a state written before windows): the next action opens one."""
    if not h.get("win_first"):
        return None
    return Tally(
        first=float(h["win_first"]),
        last=float(h["win_last"]),
        done=int(h["win_done"]),
        in_flight=int(h["win_in_flight"]),
        latency=float(h["win_latency"]),
        graced=int(h["win_graced"]),
    )


def decode(h: dict[str, str]) -> LimitState | None:
    """None when absent or unreadable (written by another version): start over."""
    if not h:
        return None

    def f(name: str) -> float | None:
        v = h.get(name, "")
        return float(v) if v else None

    try:
        limit = f("limit")
        if limit is None or not math.isfinite(limit):
            return None
        return LimitState(
            limit=limit,
            slow_start=h.get("slow_start", "1") == "1",
            cost=f("cost"),
            best=f("best"),
            best_at=f("best_at") or 0.0,
            best_in_flight=f("best_in_flight") or 0.0,
            decreased_at=f("decreased_at") or -math.inf,
            tally=_decode_tally(h),
        )
    except (KeyError, ValueError):  # a window written in part: start over
        return None
