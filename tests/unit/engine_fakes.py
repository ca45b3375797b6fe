"""In-memory fakes at the engine's adapter seams (Stores, DockerEngine, Dispatcher), so the
orchestration in healer/engine runs in unit tests without Redis or Docker.

Each fake keeps what the engine told it, for the tests to assert on. They model the adapters'
contracts, not their implementation: the guard's claim runs the real pure `backoff.decide`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from healer.adapters.docker.state import Fixed
from healer.adapters.store.history import Record
from healer.core.container_state import ContainerState
from healer.core.model import (
    Condition,
    ContainerId,
    ContainerView,
    RepairRequest,
    ServiceId,
    ServiceView,
)
from healer.core.overload.evidence import Pressure
from healer.core.repair.backoff import Decision, Episode, RestartPolicy, Verdict, decide
from healer.core.repair.concurrency import LimitState
from healer.engine.context import Healer
from healer.settings import Settings

SID = ServiceId("shop/web")
CID = ContainerId("c" * 64)


class FakeLock:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl

    def extend(self, ttl: float | None = None) -> bool:
        self.ttl = self.ttl if ttl is None else ttl
        return True


class FakeStorm:
    """The storm brake's state: no storm unless a test sets `unhealthy`."""

    def __init__(self) -> None:
        self.unhealthy: set[ServiceId] = set()
        self.managed_count: int | None = 100
        self.braked_why: str | None = None
        self.trickle_free = True
        self.onset: Pressure | None = None  # the pressure read by the storm's first service

    def observe_unhealthy(self, sid: ServiceId, now: float, window: float) -> int:
        self.unhealthy.add(sid)
        return len(self.unhealthy)

    def onset_pressure(self, first: bool, read: Callable[[], Pressure], window: float) -> Pressure:
        if first or self.onset is None:
            self.onset = read()
        return self.onset

    def managed(self) -> int | None:
        return self.managed_count

    def set_managed(self, count: int, ttl: float) -> None:
        self.managed_count = count

    def take_trickle(self, interval: float) -> bool:
        free, self.trickle_free = self.trickle_free, False
        return free

    def set_braked(self, detail: str, ttl: float, evidence: list[str] | None = None) -> bool:
        fresh = self.braked_why is None
        self.braked_why = detail
        return fresh

    def release(self) -> None:
        self.braked_why = None


class FakeGuard:
    def __init__(self, slots: int = 8) -> None:
        self.locked: set[ServiceId] = set()  # held by "another worker"
        self.slots = slots
        self.slots_held: set[str] = set()
        self.released: list[str] = []
        self.episodes: dict[tuple[ServiceId, Condition], Episode] = {}
        self.claims: list[Decision] = []
        self.reports: list[tuple[bool, float, int]] = []
        self.locks: list[FakeLock] = []
        self.slot_ttls: dict[str, float] = {}
        self.lease_left: Callable[[], float] = lambda: 0.0  # the holder's lease (lock_left)
        self.limit = LimitState(8.0)  # the adaptive limit: cost/best say how slow the engine is
        self._n = 0

    def lock_left(self, sid: ServiceId) -> float:
        return self.lease_left() if sid in self.locked else 0.0

    @contextmanager
    def service_lock(self, sid: ServiceId, ttl: float) -> Iterator[FakeLock | None]:
        if sid in self.locked:
            yield None
            return
        self.locked.add(sid)
        lock = FakeLock(ttl)
        self.locks.append(lock)
        try:
            yield lock
        finally:
            self.locked.discard(sid)

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
        d = decide(policy, self.episodes.get((sid, condition), Episode()), now, request_id)
        if d.verdict in (Verdict.ACT, Verdict.QUARANTINE):
            self.episodes[(sid, condition)] = d.episode
        self.claims.append(d)
        return d

    def take_slot(self, now: float) -> str | None:
        if len(self.slots_held) >= self.slots:
            return None
        self._n += 1
        token = f"slot-{self._n}"
        self.slots_held.add(token)
        return token

    def extend_slot(self, token: str, now: float, ttl: float) -> None:
        self.slot_ttls[token] = ttl

    def release_slot(self, token: str) -> None:
        self.slots_held.discard(token)
        self.released.append(token)

    def limit_state(self) -> LimitState:
        return self.limit

    def report_action(self, latency: float, ok: bool, now: float, grace: float = math.inf) -> None:
        """Engine actions reported to the adaptive limit, with the slots held meanwhile."""
        self.reports.append((ok, grace, len(self.slots_held)))


class FakeState:
    def __init__(self) -> None:
        self.acting: set[ContainerId] = set()
        self.acting_marked: list[tuple[ContainerId, float]] = []
        self.pending: set[tuple[ServiceId, Condition]] = set()
        self.reprobes: set[ServiceId] = set()
        self.hand_stopped: set[ContainerId] = set()

    def mark_acting(self, cids: Iterable[ContainerId], ttl: float) -> None:
        for cid in cids:
            self.acting.add(cid)
            self.acting_marked.append((cid, ttl))

    def clear_acting(self, cids: Iterable[ContainerId]) -> None:
        self.acting.difference_update(cids)

    def manual_stops(self, cids: Iterable[ContainerId]) -> set[ContainerId]:
        return set(cids) & self.hand_stopped

    def claim_pending(
        self, wanted: Sequence[tuple[ServiceId, Condition]], ttl: float
    ) -> list[bool]:
        out = []
        for w in wanted:
            out.append(w not in self.pending)
            self.pending.add(w)
        return out

    def clear_pending(self, sid: ServiceId, condition: Condition) -> None:
        self.pending.discard((sid, condition))

    def claim_reprobe(self, sid: ServiceId, wait: float) -> bool:
        fresh = sid not in self.reprobes
        self.reprobes.add(sid)
        return fresh


class FakeHistory:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.skips_seen: set[tuple[str, str, str]] = set()

    def record(self, rec: Record) -> None:
        self.records.append(rec)

    def record_skip_once(self, rec: Record, ttl: int = 300) -> bool:
        key = (rec.sid, rec.condition, rec.reason)
        if key in self.skips_seen:
            return False
        self.skips_seen.add(key)
        self.records.append(rec)
        return True


class FakeCounters:
    def __init__(self) -> None:
        self.repairs: list[tuple[str, str, bool]] = []
        self.decisions: list[tuple[str, str]] = []

    def repair(self, sid: str, action: str, success: bool, at: float | None = None) -> None:
        self.repairs.append((sid, action, success))

    def decision(self, sid: str, outcome: str) -> None:
        self.decisions.append((sid, str(outcome)))


class FakeFlags:
    def __init__(self) -> None:
        self.paused: set[ServiceId] = set()

    def is_paused(self, sid: ServiceId) -> bool:
        return sid in self.paused


class FakeRequests:
    def __init__(self) -> None:
        self.records: dict[str, dict[str, str]] = {}
        self.grants: set[str] = set()
        self._n = 0

    def open(self, service: str, action: str, source: str, **extra: str) -> str:
        self._n += 1
        rid = f"req-{self._n}"
        self.records[rid] = {
            "status": "queued",
            "service": service,
            "action": str(action),
            "source": str(source),
            **extra,
        }
        return rid

    def close(self, request_id: str, outcome: str, reason: str, detail: str) -> None:
        rec = self.records.setdefault(request_id, {})
        rec.update(status="done", outcome=str(outcome), reason=reason, detail=detail)

    def get(self, request_id: str) -> dict[str, str]:
        return dict(self.records.get(request_id, {}))

    def replicated(self, request_id: str) -> bool:
        return True  # one Redis, no replica asked for

    def grant_force(self, request_id: str) -> None:
        self.grants.add(request_id)

    def take_force_grant(self, request_id: str) -> bool:
        if request_id not in self.grants:
            return False
        self.grants.discard(request_id)
        return True


@dataclass
class FakeStores:
    guard: FakeGuard = field(default_factory=FakeGuard)
    state: FakeState = field(default_factory=FakeState)
    history: FakeHistory = field(default_factory=FakeHistory)
    counters: FakeCounters = field(default_factory=FakeCounters)
    flags: FakeFlags = field(default_factory=FakeFlags)
    requests: FakeRequests = field(default_factory=FakeRequests)
    telemetry: object = None
    host: str = "node-a"  # the host the stores are bound to (Settings.host in production)
    hosts: object = None  # the host registry; these tests never read it
    storm: FakeStorm = field(default_factory=FakeStorm)


class FakeEngine:
    """One service, one container; `running` and `health` are what list and inspect report.
    Like the real engine, it knows a container's fixed facts once it has inspected it."""

    def __init__(self, running: bool = False, comes_back: bool = True) -> None:
        self.running = running
        self.comes_back = comes_back
        self.calls: list[tuple[str, ContainerId]] = []
        self.exists = True
        self.health: str | None = None
        self.inspected: set[ContainerId] = set()
        self.inspects = 0
        self.lists = 0

    def services(self, sid: ServiceId | None = None) -> dict[ServiceId, ServiceView]:
        self.lists += 1
        if not self.exists:
            return {}
        state = "running" if self.running else "exited"
        health = self.health if self.running else None
        c = ContainerView(CID, "shop-web-1", "shop", "web", 1, state, health, 0)
        return {SID: ServiceView(SID, (c,))}

    def fixed(self, cid: ContainerId) -> Fixed | None:
        return Fixed(stop_timeout=1) if cid in self.inspected else None

    def inspect(self, cid: ContainerId) -> ContainerState:
        self.inspects += 1
        self.inspected.add(cid)
        return ContainerState(
            id=cid,
            name="shop-web-1",
            project="shop",
            service="web",
            number=1,
            status="running" if self.running else "exited",
            running=self.running,
            restarting=False,
            exit_code=0 if self.running else 1,
            health=self.health,
            stop_timeout=1,
            oom_killed=False,
            health_log=(),
            started_at=0.0,
            finished_at=0.0,
            restart_count=0,
            restart_policy="no",
            fixed_host_ports=(),
            static_ip_networks=(),
        )

    def start(self, cid: ContainerId) -> None:
        self.calls.append(("start", cid))
        self.running = self.comes_back

    def restart(self, cid: ContainerId, timeout: int) -> None:
        self.calls.append(("restart", cid))
        self.running = self.comes_back

    def stop(self, cid: ContainerId, timeout: int) -> None:
        self.calls.append(("stop", cid))
        self.running = False

    def wait_running(self, cid: ContainerId, timeout: float) -> ContainerState:
        return self.inspect(cid)


class FakeDispatcher:
    def __init__(self) -> None:
        self.repairs: list[RepairRequest] = []
        self.probes: list[tuple[ServiceId, float]] = []

    def repair(self, request: RepairRequest, countdown: float = 0) -> str:
        self.repairs.append(request)
        return request.request_id or "task"

    def probe(self, sid: ServiceId, countdown: float = 0, host: str | None = None) -> None:
        self.probes.append((sid, countdown))

    def probe_all(self, host: str | None = None) -> None:
        self.probes.append((ServiceId("*"), 0))

    def cleanup(self, source: str, request_id: str, host: str | None = None) -> None:
        raise AssertionError("not expected in these tests")

    def scale(
        self,
        sid: ServiceId,
        replicas: int,
        source: str,
        request_id: str,
        host: str | None = None,
        force: bool = False,
    ) -> str:
        raise AssertionError("not expected in these tests")


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_healer(
    engine: FakeEngine | None = None, stores: FakeStores | None = None, **settings: Any
) -> Healer:
    s = Settings(redis_url="redis://127.0.0.1:1/0", **settings)
    return Healer(
        settings=s,
        stores=stores or FakeStores(),  # type: ignore[arg-type]
        engine=engine or FakeEngine(),  # type: ignore[arg-type]
        dispatcher=FakeDispatcher(),
        clock=Clock(),
        pressure=Pressure,  # an unpressured host unless a test says otherwise
    )
