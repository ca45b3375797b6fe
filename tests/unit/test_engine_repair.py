"""The repair orchestration (healer.engine.repair.run, .manual, .probe and the Celery task's
retries) with fakes at the adapter seams: no Redis, no Docker, milliseconds."""

from __future__ import annotations

from typing import Any

import pytest

from healer.core.hosts import ServiceRef
from healer.core.model import (
    Action,
    Condition,
    Outcome,
    RepairRequest,
    SkipReason,
    Source,
)
from healer.engine.repair import run as repair_mod
from healer.engine.repair.manual import enqueue_manual
from healer.engine.repair.outcome import RepairResult, finish_repair
from healer.engine.repair.run import Busy, SlotsFull, repair
from tests.unit.engine_fakes import (
    CID,
    SID,
    FakeEngine,
    FakeStores,
    make_healer,
)


def request(source: Source = Source.PROBE, request_id: str = "") -> RepairRequest:
    return RepairRequest(SID, Condition.EXITED, Action.START, (CID,), "exited", source, request_id)


def outcomes(stores: FakeStores) -> list[tuple[str, str]]:
    return [(str(r.outcome), r.reason) for r in stores.history.records]


# --- acting, and what every ending leaves behind ---------------------------------------------


def test_a_repair_acts_records_and_releases_everything() -> None:
    stores, engine = FakeStores(), FakeEngine(running=False)
    stores.state.pending.add((SID, Condition.EXITED))
    h = make_healer(engine, stores)
    result = repair(h, request())
    assert (result.outcome, result.attempt) == (Outcome.ACTED, 1)
    assert engine.calls == [("start", CID)]
    assert outcomes(stores) == [("acted", "repair 1 of 3")]
    assert stores.counters.repairs == [(SID, "start", True)]
    assert stores.counters.decisions == [(SID, "acted")]
    # The slot, the lock, the acting mark and the pending mark are all gone afterwards.
    assert stores.guard.slots_held == set() and stores.guard.released == ["slot-1"]
    assert stores.guard.locked == set()
    assert stores.state.acting == set()
    assert stores.state.pending == set(), "the next failure may queue a repair again"


def test_the_acting_mark_lives_as_long_as_the_repair_lock() -> None:
    stores = FakeStores()
    h = make_healer(FakeEngine(), stores, lock_ttl=77)
    repair(h, request())
    assert stores.state.acting_marked == [(CID, 77)]


def test_a_failed_action_is_recorded_failed_and_still_releases_the_slot() -> None:
    stores, engine = FakeStores(), FakeEngine(running=False, comes_back=False)
    h = make_healer(engine, stores)
    result = repair(h, request())
    assert result.outcome == Outcome.FAILED
    assert "not running after start" in result.detail
    assert stores.counters.repairs == [(SID, "start", False)]
    assert stores.guard.slots_held == set() and stores.state.acting == set()


def test_the_slot_is_released_when_the_engine_raises_unexpectedly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stores = FakeStores()
    h = make_healer(FakeEngine(), stores)

    def boom(*_: Any) -> RepairResult:
        raise RuntimeError("worker bug")

    monkeypatch.setattr(repair_mod, "_guarded", boom)
    with pytest.raises(RuntimeError):
        repair(h, request())
    assert stores.guard.slots_held == set() and stores.guard.released == ["slot-1"]
    assert stores.guard.locked == set()


# --- the request record ------------------------------------------------------------------------


def test_an_operator_request_is_recorded_before_it_is_queued_and_closed_by_the_repair() -> None:
    stores = FakeStores()
    h = make_healer(FakeEngine(running=True), stores)
    out = enqueue_manual(h, ServiceRef(h.host, SID), Action.RESTART, "", Source.API)
    rid = out["task_id"]
    assert stores.requests.get(rid)["status"] == "queued"
    [queued] = h.dispatcher.repairs  # type: ignore[attr-defined]
    assert (queued.request_id, queued.source, queued.condition) == (rid, "api", Condition.MANUAL)
    assert outcomes(stores) == [("requested", "")]

    result = repair(h, queued)  # the operator asked: it acts on a running service too
    assert result.outcome == Outcome.ACTED
    record = stores.requests.get(rid)
    assert (record["status"], record["outcome"], record["reason"]) == (
        "done",
        "acted",
        result.reason,
    )


def test_finish_repair_closes_the_request_and_keeps_an_operators_pending_marks() -> None:
    stores = FakeStores()
    stores.state.pending.add((SID, Condition.EXITED))
    h = make_healer(FakeEngine(), stores)
    why = "another repair held the lock throughout"
    result = RepairResult(Outcome.SKIPPED, SkipReason.IN_FLIGHT.value, why)
    finish_repair(h, request(Source.CLI, "r1"), result)
    assert stores.requests.get("r1")["outcome"] == "skipped"
    assert stores.requests.get("r1")["detail"] == why
    # Only the healer's own requests hold a pending mark; an operator's does not clear one.
    assert stores.state.pending == {(SID, Condition.EXITED)}
    assert stores.counters.decisions == [(SID, "skipped")]


# --- Busy and SlotsFull --------------------------------------------------------------------------


def test_a_locked_service_makes_intent_wait_and_a_probe_skip_once() -> None:
    stores = FakeStores()
    stores.guard.locked.add(SID)
    h = make_healer(FakeEngine(), stores)
    with pytest.raises(Busy) as busy:
        repair(h, request(Source.ALERT, "r1"))
    assert busy.value.retry_after > 0
    assert stores.history.records == [] and stores.requests.get("r1") == {}
    assert stores.guard.claims == [], "waiting spends no attempt"

    first = repair(h, request())
    again = repair(h, request())
    assert first.outcome == again.outcome == Outcome.SKIPPED
    assert first.reason == SkipReason.IN_FLIGHT.value
    assert outcomes(stores) == [("skipped", "in_flight")], "a repeated skip is recorded once"
    assert stores.guard.slots_held == set()


def test_full_slots_make_every_source_wait_without_spending_an_attempt() -> None:
    stores = FakeStores()
    stores.guard.slots = 0
    h = make_healer(FakeEngine(), stores)
    for source in (Source.PROBE, Source.API):
        with pytest.raises(SlotsFull) as full:
            repair(h, request(source))
        assert 0.2 <= full.value.retry_after <= 0.5  # jittered, so retries do not herd
    assert stores.guard.claims == [] and stores.history.records == []
    assert stores.guard.locked == set(), "the lock is released while waiting for a slot"


# --- skips before the guard --------------------------------------------------------------------


def test_pause_stops_the_healer_and_alerts_but_not_an_operator() -> None:
    stores = FakeStores()
    stores.flags.paused.add(SID)
    h = make_healer(FakeEngine(), stores)
    assert repair(h, request(Source.PROBE)).reason == SkipReason.PAUSED.value
    assert repair(h, request(Source.ALERT)).reason == SkipReason.PAUSED.value
    assert repair(h, request(Source.CLI)).outcome == Outcome.ACTED


def test_a_probe_request_whose_container_recovered_is_skipped_and_charges_nothing() -> None:
    stores = FakeStores()
    h = make_healer(FakeEngine(running=True), stores)
    result = repair(h, request(Source.EVENT))
    assert (result.outcome, result.reason) == (Outcome.SKIPPED, SkipReason.RECOVERED.value)
    assert stores.guard.claims == []


def test_a_gone_service_ends_not_found_with_its_request_closed() -> None:
    stores, engine = FakeStores(), FakeEngine()
    engine.exists = False
    h = make_healer(engine, stores)
    result = repair(h, request(Source.API, "r9"))
    assert result.reason == SkipReason.NOT_FOUND.value
    assert stores.requests.get("r9")["outcome"] == "skipped"


# --- the restart policy through the guard ------------------------------------------------------


def test_cooldown_then_quarantine_after_the_budget() -> None:
    stores, engine = FakeStores(), FakeEngine(running=False, comes_back=False)
    h = make_healer(engine, stores, max_restart_attempts=2, restart_cooldown=10)
    clock = h.clock
    assert repair(h, request()).outcome == Outcome.FAILED
    assert repair(h, request()).reason == SkipReason.COOLDOWN.value
    clock.now += 10  # type: ignore[attr-defined]
    assert repair(h, request()).outcome == Outcome.FAILED
    clock.now += 20  # type: ignore[attr-defined]
    result = repair(h, request())
    assert (result.outcome, result.attempt) == (Outcome.QUARANTINED, 2)
    assert "left as they are for inspection" in result.detail
    assert engine.calls == [("start", CID), ("start", CID)], "quarantine does not act"


# --- the fresh read under the lock: list or inspect ---------------------------------------


def unhealthy(condition: Condition = Condition.UNHEALTHY) -> RepairRequest:
    return RepairRequest(SID, condition, Action.RESTART, (CID,), "unhealthy", Source.PROBE)


def test_a_running_container_inspected_before_is_read_from_the_list() -> None:
    # An inspect of a container running a healthcheck waits for the check's exec to start.
    engine = FakeEngine(running=True)
    engine.health = "unhealthy"
    engine.inspected.add(CID)  # the probe that asked for the repair inspected it
    h = make_healer(engine)
    assert repair(h, unhealthy()).outcome == Outcome.ACTED
    assert engine.calls == [("restart", CID)]
    assert engine.inspects == 1, "only the verify after the restart inspects"
    assert engine.lists == 2, "the targets before the lock, their state under it"


def test_a_container_never_inspected_here_is_inspected() -> None:
    engine = FakeEngine(running=True)
    engine.health = "unhealthy"
    h = make_healer(engine)
    assert repair(h, unhealthy()).outcome == Outcome.ACTED
    assert engine.inspects == 2 and engine.lists == 1


def test_a_listed_container_that_recovered_is_left_alone() -> None:
    engine = FakeEngine(running=True)
    engine.health = "healthy"
    engine.inspected.add(CID)
    stores = FakeStores()
    h = make_healer(engine, stores)
    result = repair(h, unhealthy())
    assert (result.outcome, result.reason) == (Outcome.SKIPPED, SkipReason.RECOVERED.value)
    assert engine.calls == [] and engine.inspects == 0


@pytest.mark.parametrize(
    ("condition", "running"),
    [(Condition.RESTARTING, True), (Condition.EXITED, False), (Condition.UNHEALTHY, False)],
    ids=["crash loop: needs the restart count", "exited", "stopped since the probe"],
)
def test_the_list_does_not_answer_what_it_cannot_tell(condition: Condition, running: bool) -> None:
    engine = FakeEngine(running=running)
    engine.inspected.add(CID)
    h = make_healer(engine)
    repair(h, unhealthy(condition))
    # One inspect under the lock, plus the verify of each action taken.
    assert engine.inspects == 1 + len(engine.calls)


# --- the adaptive limit hears of every engine action ---------------------------------------


class FailingEngine(FakeEngine):
    def start(self, cid: Any) -> None:
        from healer.adapters.docker.engine import EngineError

        raise EngineError("engine timed out", None)


def test_each_engine_action_is_reported_while_the_slot_is_held() -> None:
    stores = FakeStores()
    h = make_healer(FakeEngine(running=False), stores)
    repair(h, request())
    assert stores.guard.reports == [(True, float("inf"), 1)], "a start has no stop grace"
    stores = FakeStores()
    restart = RepairRequest(SID, Condition.MANUAL, Action.RESTART, (CID,), "", Source.API, "r1")
    repair(make_healer(FakeEngine(running=True), stores), restart)
    # The container's own stop grace (StopTimeout 1 s): a restart that used it all waited on
    # the container, and the limit ignores it.
    assert [(ok, grace) for ok, grace, _ in stores.guard.reports] == [(True, 1)]


def test_an_engine_failure_is_reported_as_such_and_recorded() -> None:
    stores = FakeStores()
    result = repair(make_healer(FailingEngine(running=False), stores), request())
    assert result.outcome == Outcome.FAILED
    assert stores.guard.reports == [(False, float("inf"), 1)]
    assert stores.guard.slots_held == set()
