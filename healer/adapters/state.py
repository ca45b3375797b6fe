"""Observed state the probe needs besides Docker, read and written in pipelined batches so
one probe cycle costs a constant number of Redis round trips whatever the container count."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import redis

from healer.adapters import keys
from healer.adapters.guard import episode_from_hash
from healer.core.backoff import Episode
from healer.core.model import Condition, ContainerId, ServiceId, ServiceView
from healer.core.observed import ProbeEffects, Snapshot

# Every condition whose episode a probe must see (for quarantine, backoff and status).
PROBED_CONDITIONS = tuple(c for c in Condition if c != Condition.DISK)


class StateStore:
    def __init__(self, r: redis.Redis, crashloop_window: float) -> None:
        self.r = r
        self.crashloop_window = crashloop_window
        self.round_trips = 0

    def read(self, services: Iterable[ServiceView], now: float) -> Snapshot:
        views = list(services)
        cids = [c.id for v in views for c in v.containers]
        pipe = self.r.pipeline(transaction=False)
        pipe.exists(keys.PAUSED_ALL)
        for v in views:
            pipe.exists(keys.paused(v.sid))
            pipe.get(keys.healthy_since(v.sid))
            pipe.zcount(keys.dies(v.sid), now - self.crashloop_window, "+inf")
            pipe.exists(keys.was_down(v.sid))
            for cond in PROBED_CONDITIONS:
                pipe.hgetall(keys.episode(v.sid, cond))
        for cid in cids:
            pipe.exists(keys.manual_stop(cid))
            pipe.get(keys.restarting_since(cid))
        results = iter(pipe.execute())
        self.round_trips += 1
        paused_all = bool(next(results))
        paused: set[ServiceId] = set()
        healthy: dict[ServiceId, float] = {}
        dies: dict[ServiceId, int] = {}
        episodes: dict[tuple[ServiceId, Condition], Episode] = {}
        was_down: set[ServiceId] = set()
        for v in views:
            if next(results):
                paused.add(v.sid)
            hs = next(results)
            if hs is not None:
                healthy[v.sid] = float(hs)
            dies[v.sid] = int(next(results))
            if next(results):
                was_down.add(v.sid)
            for cond in PROBED_CONDITIONS:
                h = next(results)
                if h:
                    episodes[(v.sid, cond)] = episode_from_hash(h)
        stops: set[ContainerId] = set()
        restarting: dict[ContainerId, float] = {}
        for cid in cids:
            if next(results):
                stops.add(cid)
            rs = next(results)
            if rs is not None:
                restarting[cid] = float(rs)
        return Snapshot(
            paused_all,
            frozenset(paused),
            frozenset(stops),
            restarting,
            dies,
            healthy,
            episodes,
            frozenset(was_down),
        )

    def write(self, effects: ProbeEffects, ttl_snapshot: float) -> None:
        pipe = self.r.pipeline(transaction=False)
        for cid, since in effects.restarting_seen.items():
            pipe.set(keys.restarting_since(cid), repr(since), nx=True, ex=3600 + 3600)
        for cid in effects.restarting_cleared:
            pipe.delete(keys.restarting_since(cid))
        for sid, since in effects.healthy_seen.items():
            pipe.set(keys.healthy_since(sid), repr(since), nx=True, ex=effects.healthy_ttl)
        for sid in effects.healthy_cleared:
            pipe.delete(keys.healthy_since(sid))
        for sid, cond in effects.refresh_episodes:
            pipe.expire(keys.episode(sid, cond), effects.episode_ttl)
        for sid in effects.reset_services:
            for cond in Condition:
                pipe.delete(keys.episode(sid, cond))
            pipe.delete(keys.healthy_since(sid))
        for sid in effects.down_seen:
            pipe.set(keys.was_down(sid), "1", ex=86400)
        for sid in effects.down_cleared:
            pipe.delete(keys.was_down(sid))
        for sid, snap in effects.snapshots.items():
            pipe.set(keys.snapshot(sid), json.dumps(snap), ex=int(ttl_snapshot))
            pipe.sadd(keys.SNAPSHOTS, sid)
        if effects.snapshots:
            pipe.expire(keys.SNAPSHOTS, int(ttl_snapshot))
        pipe.execute()
        self.round_trips += 1

    def snapshots(self) -> dict[str, dict[str, object]]:
        sids = sorted(self.r.smembers(keys.SNAPSHOTS))
        if not sids:
            return {}
        values = self.r.mget([keys.snapshot(ServiceId(s)) for s in sids])
        return {s: json.loads(v) for s, v in zip(sids, values, strict=True) if v}

    def record_die(self, sid: ServiceId, at: float) -> None:
        key = keys.dies(sid)
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(key, {repr(at): at})
        pipe.zremrangebyscore(key, "-inf", at - self.crashloop_window)
        pipe.expire(key, int(self.crashloop_window) + 1)
        pipe.execute()

    def mark_manual_stop(self, cid: ContainerId) -> None:
        self.r.set(keys.manual_stop(cid), repr(time.time()), ex=30 * 86400)

    def clear_manual_stop(self, cid: ContainerId) -> None:
        self.r.delete(keys.manual_stop(cid))

    def mark_acting(self, cids: Iterable[ContainerId], ttl: float = 60) -> None:
        pipe = self.r.pipeline(transaction=False)
        for cid in cids:
            pipe.set(keys.acting(cid), "1", ex=max(1, int(ttl)))
        pipe.execute()

    def manual_stops(self, cids: Iterable[ContainerId]) -> set[ContainerId]:
        """Which of these containers were stopped by hand (seen by the events watcher)."""
        ids = list(cids)
        if not ids:
            return set()
        pipe = self.r.pipeline(transaction=False)
        for cid in ids:
            pipe.exists(keys.manual_stop(cid))
        return {cid for cid, hit in zip(ids, pipe.execute(), strict=True) if hit}

    def clear_acting(self, cids: Iterable[ContainerId]) -> None:
        names = [keys.acting(c) for c in cids]
        if names:
            self.r.delete(*names)

    def is_acting(self, cid: ContainerId) -> bool:
        return bool(self.r.exists(keys.acting(cid)))
