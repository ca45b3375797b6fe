"""The Celery repair task's retry wiring (Busy, SlotsFull) and the probe's hand-off to it, run
eagerly on the engine fakes: no broker, no worker, no Docker."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import workers.tasks as tasks
from healer.core.model import Action, Condition, RepairRequest, ServiceId, Source
from healer.core.reconcile import Plan
from healer.engine.context import Healer
from healer.engine.probe import _apply
from tests.unit.engine_fakes import CID, SID, FakeEngine, FakeGuard, FakeStores, make_healer


@pytest.fixture
def worker_healer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Makes the task module use the Healer a test puts in `tasks._healer`."""
    monkeypatch.setattr(tasks, "_pid", os.getpid())
    monkeypatch.setattr(tasks, "_healer", None)
    yield


def run_task(h: Healer, req: RepairRequest) -> dict[str, object]:
    tasks._healer = h
    result = tasks.repair_service.apply(kwargs=req.to_kwargs(), task_id=req.request_id)
    assert result.state == "SUCCESS", result.traceback
    out = result.result
    assert isinstance(out, dict)
    return out


class SlotsAfter(FakeGuard):
    """No free slot for the first `busy` attempts, then one."""

    def __init__(self, busy: int) -> None:
        super().__init__()
        self.busy = busy
        self.asked = 0

    def take_slot(self, now: float) -> str | None:
        self.asked += 1
        return None if self.asked <= self.busy else super().take_slot(now)


def api_request(rid: str) -> RepairRequest:
    return RepairRequest(SID, Condition.MANUAL, Action.RESTART, (), "", Source.API, rid)


@pytest.mark.usefixtures("worker_healer")
def test_full_slots_are_retried_until_one_frees_and_then_it_acts() -> None:
    slots = SlotsAfter(busy=3)
    stores = FakeStores(guard=slots)
    engine = FakeEngine(running=True)
    out = run_task(make_healer(engine, stores), api_request("r1"))
    assert out["outcome"] == "acted"
    assert slots.asked == 4
    assert len(stores.guard.claims) == 1, "the waits spent no attempt"
    assert engine.calls == [("restart", CID)]
    assert stores.requests.get("r1")["status"] == "done"


@pytest.mark.usefixtures("worker_healer")
def test_a_lock_held_throughout_ends_in_a_recorded_skip_after_a_lock_lifetime() -> None:
    stores = FakeStores()
    stores.guard.locked.add(SID)
    h = make_healer(FakeEngine(), stores, lock_ttl=5)
    out = run_task(h, api_request("r2"))
    assert (out["outcome"], out["reason"]) == ("skipped", "in_flight")
    record = stores.requests.get("r2")
    assert (record["status"], record["outcome"]) == ("done", "skipped")
    assert [(str(r.outcome), r.reason) for r in stores.history.records] == [
        ("skipped", "in_flight")
    ]
    assert stores.guard.claims == []


@pytest.mark.usefixtures("worker_healer")
def test_a_lease_stretched_past_the_lock_ttl_is_waited_out_then_the_request_acts() -> None:
    # A dead worker's repair stretched its lease to its work (longer than HEALER_LOCK_TTL):
    # the redelivered request must wait it out and act, not give up after a lock lifetime.
    stores = FakeStores()
    stores.guard.locked.add(SID)
    h = make_healer(FakeEngine(running=True), stores, lock_ttl=5)
    original = stores.guard.service_lock
    calls = {"n": 0}
    stores.guard.lease_left = lambda: max(0.0, 12.0 - calls["n"])

    def lease_runs_out(sid: ServiceId, ttl: float):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 12:
            stores.guard.locked.discard(SID)  # the lease ran out
        return original(sid, ttl)

    stores.guard.service_lock = lease_runs_out  # type: ignore[method-assign]
    out = run_task(h, api_request("r4"))
    assert out["outcome"] == "acted" and calls["n"] == 12


@pytest.mark.usefixtures("worker_healer")
def test_a_busy_lock_that_frees_lets_the_retry_act() -> None:
    stores = FakeStores()
    stores.guard.locked.add(SID)
    h = make_healer(FakeEngine(running=True), stores)
    original = stores.guard.service_lock
    calls = {"n": 0}

    def lock_once_busy(sid: ServiceId, ttl: float):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            stores.guard.locked.discard(SID)  # the other repair finished
        return original(sid, ttl)

    stores.guard.service_lock = lock_once_busy  # type: ignore[method-assign]
    out = run_task(h, api_request("r3"))
    assert out["outcome"] == "acted" and calls["n"] == 2


def test_the_probe_queues_one_repair_per_failure_and_exact_reprobes() -> None:
    stores = FakeStores()
    h = make_healer(FakeEngine(), stores, watchdog_interval=30)
    req = RepairRequest(SID, Condition.EXITED, Action.START, (CID,), "exited", Source.EVENT)
    other = ServiceId("shop/db")
    p = Plan(requests=[req], reprobes={other: 12.5, ServiceId("shop/slow"): 45.0})
    _apply(h, p)
    _apply(h, p)  # a second event for the same failure
    dispatcher = h.dispatcher
    assert dispatcher.repairs == [req]  # type: ignore[attr-defined]
    # A wait shorter than a reconcile gets its own re-probe, once; a longer one is left to
    # the reconcile loop.
    assert dispatcher.probes == [(other, pytest.approx(12.55))]  # type: ignore[attr-defined]
    assert stores.state.pending == {(SID, Condition.EXITED)}


def test_the_worker_loader_registers_every_task_the_queues_route() -> None:
    """The app names its task modules in `include` (no import cycle); a worker's loader
    imports them, and every healer task family is then registered under its routed name."""
    from workers.app import app

    app.loader.import_default_modules()
    names = {n for n in app.tasks if n.startswith("healer.")}
    for family in ("healer.probe.", "healer.repair.", "healer.scale."):
        assert any(n.startswith(family) for n in names), (family, sorted(names))
    assert "workers.host_agent" in app.conf.include
