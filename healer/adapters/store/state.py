"""Observed state the probe needs besides Docker, read and written in pipelined batches so
one probe cycle costs a constant number of Redis round trips whatever the container count."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable, Sequence

import redis

from healer.adapters.store import keys
from healer.adapters.store.guard import episode_from_hash
from healer.core.model import Condition, ContainerId, HostId, ServiceId, ServiceView
from healer.core.observed import ProbeEffects, Snapshot
from healer.core.repair.backoff import Episode

# Every condition whose episode a probe must see (for quarantine, backoff and status).
PROBED_CONDITIONS = tuple(c for c in Condition if c != Condition.DISK)


class StateStore:
    """One host's observed state (every key is that host's: keys.lock(host, …))."""

    def __init__(
        self,
        r: redis.Redis,
        crashloop_window: float,
        restarting_ttl: int,
        snapshot_ttl: int,
        host: HostId,
    ) -> None:
        self.r = r
        self.host = host
        self.crashloop_window = crashloop_window
        self.restarting_ttl = restarting_ttl  # keys.restarting_since_ttl
        self.snapshot_ttl = snapshot_ttl  # keys.snapshot_ttl
        self.round_trips = 0

    def read(self, services: Iterable[ServiceView], now: float) -> Snapshot:
        views = list(services)
        cids = [c.id for v in views for c in v.containers]
        pipe = self.r.pipeline(transaction=False)
        pipe.exists(keys.PAUSED_ALL)
        for v in views:
            pipe.exists(keys.paused(self.host, v.sid))
            pipe.get(keys.healthy_since(self.host, v.sid))
            pipe.zcount(keys.dies(self.host, v.sid), now - self.crashloop_window, "+inf")
            pipe.exists(keys.was_down(self.host, v.sid))
            for cond in PROBED_CONDITIONS:
                pipe.hgetall(keys.episode(self.host, v.sid, cond))
        for cid in cids:
            pipe.exists(keys.manual_stop(self.host, cid))
            pipe.get(keys.restarting_since(self.host, cid))
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

    def write(self, effects: ProbeEffects) -> None:
        pipe = self.r.pipeline(transaction=False)
        for cid, since in effects.restarting_seen.items():
            pipe.set(
                keys.restarting_since(self.host, cid), repr(since), nx=True, ex=self.restarting_ttl
            )
        for cid in effects.restarting_cleared:
            pipe.delete(keys.restarting_since(self.host, cid))
        for sid, since in effects.healthy_seen.items():
            pipe.set(
                keys.healthy_since(self.host, sid), repr(since), nx=True, ex=effects.healthy_ttl
            )
        for sid in effects.healthy_cleared:
            pipe.delete(keys.healthy_since(self.host, sid))
        for sid, cond in effects.refresh_episodes:
            pipe.expire(keys.episode(self.host, sid, cond), effects.episode_ttl)
        for sid in effects.reset_services:
            for cond in Condition:
                pipe.delete(keys.episode(self.host, sid, cond))
            pipe.delete(keys.healthy_since(self.host, sid))
        for sid in effects.down_seen:
            pipe.set(keys.was_down(self.host, sid), "1", ex=keys.WAS_DOWN_TTL)
        for sid in effects.down_cleared:
            pipe.delete(keys.was_down(self.host, sid))
        for sid, snap in effects.snapshots.items():
            body = json.dumps({**snap, "host": self.host})
            pipe.set(keys.snapshot(self.host, sid), body, ex=self.snapshot_ttl)
            pipe.sadd(keys.snapshots(self.host), sid)
        if effects.snapshots:
            pipe.expire(keys.snapshots(self.host), self.snapshot_ttl)
        pipe.execute()
        self.round_trips += 1

    def forget_snapshots(
        self, present: Collection[ServiceId], only: ServiceId | None = None
    ) -> None:
        """Drop the report of services with no container left (`docker compose down`, `rm`):
        `only` that one, else every stored one that is not `present`.
        Left to expire (3 x WATCHDOG_INTERVAL), a removed service's last `exited` would fire
        ContainerDown for a service nobody runs any more."""
        stored = {only} if only is not None else set(self.r.smembers(keys.snapshots(self.host)))
        gone = [s for s in stored if s not in present]
        if gone:
            pipe = self.r.pipeline(transaction=False)
            pipe.delete(*(keys.snapshot(self.host, ServiceId(s)) for s in gone))
            pipe.srem(keys.snapshots(self.host), *gone)
            pipe.execute()

    def record_die(self, sid: ServiceId, at: float) -> None:
        key = keys.dies(self.host, sid)
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(key, {repr(at): at})
        pipe.zremrangebyscore(key, "-inf", at - self.crashloop_window)
        pipe.expire(key, int(self.crashloop_window) + 1)
        pipe.execute()

    def mark_manual_stop(self, cid: ContainerId) -> None:
        self.r.set(keys.manual_stop(self.host, cid), repr(time.time()), ex=keys.MANUAL_STOP_TTL)

    def clear_manual_stop(self, cid: ContainerId) -> None:
        self.r.delete(keys.manual_stop(self.host, cid))

    def mark_acting(self, cids: Iterable[ContainerId], ttl: float) -> None:
        """`ttl`: the lock TTL of the action (keys.acting says why)."""
        pipe = self.r.pipeline(transaction=False)
        for cid in cids:
            pipe.set(keys.acting(self.host, cid), "1", px=max(1, int(ttl * 1000)))
        pipe.execute()

    def manual_stops(self, cids: Iterable[ContainerId]) -> set[ContainerId]:
        """Which of these containers were stopped by hand (seen by the events watcher)."""
        ids = list(cids)
        if not ids:
            return set()
        pipe = self.r.pipeline(transaction=False)
        for cid in ids:
            pipe.exists(keys.manual_stop(self.host, cid))
        return {cid for cid, hit in zip(ids, pipe.execute(), strict=True) if hit}

    def clear_acting(self, cids: Iterable[ContainerId]) -> None:
        names = [keys.acting(self.host, c) for c in cids]
        if names:
            self.r.delete(*names)

    def is_acting(self, cid: ContainerId) -> bool:
        return bool(self.r.exists(keys.acting(self.host, cid)))

    # --- probe → repair hand-off ---------------------------------------------------------

    def claim_pending(
        self, wanted: Sequence[tuple[ServiceId, Condition]], ttl: float
    ) -> list[bool]:
        """Mark each (service, condition) as having a repair queued; True where this call
        set the mark (only those are queued). One round trip whatever the number."""
        if not wanted:
            return []
        pipe = self.r.pipeline(transaction=False)
        for sid, cond in wanted:
            pipe.set(keys.pending(self.host, sid, cond), "1", nx=True, px=max(1, int(ttl * 1000)))
        return [bool(x) for x in pipe.execute()]

    def clear_pending(self, sid: ServiceId, condition: Condition) -> None:
        self.r.delete(keys.pending(self.host, sid, condition))

    def claim_reprobe(self, sid: ServiceId, wait: float) -> bool:
        """True if no delayed re-probe of the service is scheduled yet (this call claims it)."""
        return bool(
            self.r.set(keys.reprobe(self.host, sid), "1", nx=True, px=max(1, int(wait * 1000)))
        )

    # --- events watcher resume point -----------------------------------------------------

    def events_cursor(self, now: float) -> float:
        """Where the watcher resumes: just after the last event seen, at most
        EVENTS_REPLAY_MAX back; a fresh start looks a few seconds back."""
        raw = self.r.get(keys.events_cursor(self.host))
        cursor = float(raw) if raw else now - 5
        return max(cursor, now - keys.EVENTS_REPLAY_MAX)

    def save_events_cursor(self, at: float) -> None:
        self.r.set(keys.events_cursor(self.host), repr(at), ex=keys.EVENTS_CURSOR_TTL)


def read_snapshots(r: redis.Redis, host: HostId) -> dict[str, dict[str, object]]:
    """The host's last observed services (written by its probes), by project/service."""
    sids = sorted(r.smembers(keys.snapshots(host)))
    if not sids:
        return {}
    values = r.mget([keys.snapshot(host, ServiceId(s)) for s in sids])
    return {s: json.loads(v) for s, v in zip(sids, values, strict=True) if v}
