"""The host registry in Redis: heartbeats, what each host serves, and legacy-key adoption.

Liveness itself is decided by `healer.core.hosts.host_states` (pure) from the heartbeat
times read here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import redis

from healer.adapters.store import keys
from healer.core.hosts import HostState, HostStatus, host_states
from healer.core.model import HostId, ServiceId


class HostRegistry:
    def __init__(self, r: redis.Redis, down_after: float) -> None:
        self.r = r
        self.down_after = down_after

    def heartbeat(self, host: HostId, info: Mapping[str, str], now: float | None = None) -> None:
        """One round trip: the host's time in the registry and its live info."""
        now = time.time() if now is None else now
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(keys.HOSTS, {host: now})
        pipe.zremrangebyscore(keys.HOSTS, "-inf", now - keys.HOST_FORGET_AFTER)
        pipe.expire(keys.HOSTS, keys.HOST_FORGET_AFTER)
        if info:
            pipe.hset(keys.host_info(host), mapping={**info, "last_heartbeat": repr(now)})
        else:
            pipe.hset(keys.host_info(host), "last_heartbeat", repr(now))
        pipe.pexpire(keys.host_info(host), max(1, int(self.down_after * 1000)))
        pipe.execute()

    def heartbeats(self) -> dict[HostId, float]:
        cutoff = time.time() - keys.HOST_FORGET_AFTER
        raw = self.r.zrangebyscore(keys.HOSTS, cutoff, "+inf", withscores=True)
        return {HostId(str(h)): float(ts) for h, ts in raw}

    def states(self, now: float | None = None) -> dict[HostId, HostStatus]:
        now = time.time() if now is None else now
        return host_states(self.heartbeats(), now, self.down_after)

    def live(self, now: float | None = None) -> list[HostId]:
        return [h for h, s in self.states(now).items() if s.state == HostState.UP]

    def info(self, host: HostId) -> dict[str, str]:
        return dict(self.r.hgetall(keys.host_info(host)))

    def info_field(self, name: str, hosts: Iterable[HostId]) -> dict[HostId, str | None]:
        """One field of each host's live info, in one round trip (None where it is absent)."""
        hosts = list(hosts)
        pipe = self.r.pipeline(transaction=False)
        for h in hosts:
            pipe.hget(keys.host_info(h), name)
        values = pipe.execute()
        return {h: (None if v is None else str(v)) for h, v in zip(hosts, values, strict=True)}

    def forget(self, host: HostId) -> bool:
        """An operator decommissioned the host: stop reporting it down."""
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(keys.HOSTS, host)
        pipe.delete(keys.host_info(host), keys.host_services(host))
        removed, _ = pipe.execute()
        return bool(removed)

    def publish_services(self, host: HostId, sids: Iterable[ServiceId]) -> None:
        """Replace the host's catalogue (what a reconcile saw) in one transaction."""
        key = keys.host_services(host)
        names = sorted(set(sids))
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(key)
        if names:
            pipe.sadd(key, *names)
            pipe.expire(key, keys.HOST_FORGET_AFTER)
        pipe.execute()

    def catalogue(self, hosts: Iterable[HostId]) -> dict[HostId, set[ServiceId]]:
        hosts = list(hosts)
        pipe = self.r.pipeline(transaction=False)
        for h in hosts:
            pipe.smembers(keys.host_services(h))
        return {
            h: {ServiceId(str(s)) for s in members}
            for h, members in zip(hosts, pipe.execute(), strict=True)
        }

    def adopt_legacy_pauses(self, host: HostId) -> list[str]:
        """Pause flags written before hosts existed (`paused:project/service`) become this
        host's, so an upgraded single-host install keeps every operator pause."""
        adopted = []
        for key in self.r.scan_iter(match=keys.LEGACY_PAUSED_PATTERN, count=200):
            name = str(key)[len(keys.PREFIX + "paused:") :]
            if name.count("/") != 1:
                continue  # already host-qualified
            self.r.set(keys.paused(host, ServiceId(name)), "1")
            self.r.delete(key)
            adopted.append(name)
        return adopted
