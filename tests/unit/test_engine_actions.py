"""Action choice and dispatch in the repair path (escalation, intent, unknown names, the
post-repair hook) with the engine fakes: no Redis, no Docker."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from healer.core.model import (
    Action,
    Condition,
    ContainerId,
    Outcome,
    RepairRequest,
    ServiceId,
    ServiceView,
    Source,
)
from healer.engine.repair.run import repair
from tests.unit.engine_fakes import CID, SID, FakeEngine, FakeStores, make_healer


class LabelledEngine(FakeEngine):
    """The fake service with compose labels, and the kill API."""

    def __init__(self, labels: dict[str, str], **kw: Any) -> None:
        super().__init__(**kw)
        self.labels = labels

    def services(self, sid: ServiceId | None = None) -> dict[ServiceId, ServiceView]:
        return {s: replace(v, labels=self.labels) for s, v in super().services(sid).items()}

    def kill(self, cid: ContainerId, signal: str) -> None:
        self.calls.append((f"kill:{signal}", cid))


def request(source: Source = Source.PROBE, action: str = Action.START) -> RepairRequest:
    return RepairRequest(SID, Condition.EXITED, action, (CID,), "exited", source)


def test_probe_repairs_escalate_by_attempt_and_the_last_action_repeats() -> None:
    stores = FakeStores()
    engine = LabelledEngine({"healer.exited.actions": "start,signal:hup"}, comes_back=False)
    h = make_healer(engine, stores, max_restart_attempts=5, restart_cooldown=1)
    for _ in range(3):
        repair(h, request())
        h.clock.now += 100  # type: ignore[attr-defined]
    assert engine.calls == [("start", CID), ("kill:HUP", CID), ("kill:HUP", CID)]
    acted = [(r.attempt, r.action) for r in stores.history.records]
    assert acted == [(1, "start"), (2, "signal:HUP"), (3, "signal:HUP")]
    assert [a for _, a, _ in stores.counters.repairs] == ["start", "signal:HUP", "signal:HUP"]


def test_operator_and_alert_requests_do_what_they_ask_for() -> None:
    engine = LabelledEngine({"healer.exited.actions": "signal:HUP"}, comes_back=True)
    h = make_healer(engine, FakeStores())
    assert repair(h, request(Source.API, Action.START)).outcome == Outcome.ACTED
    assert engine.calls == [("start", CID)]


def test_an_unknown_action_from_the_queue_fails_clearly_without_acting() -> None:
    engine = LabelledEngine({}, running=True)
    stores = FakeStores()
    result = repair(make_healer(engine, stores), request(Source.API, "reboot"))
    assert result.outcome == Outcome.FAILED
    assert "unknown action 'reboot'" in result.detail and "recreate" in result.detail
    assert engine.calls == []


def test_a_missing_escalation_plugin_falls_back_to_the_default() -> None:
    engine = LabelledEngine({"healer.exited.actions": "not-installed"}, comes_back=True)
    h = make_healer(engine, FakeStores())
    assert repair(h, request()).outcome == Outcome.ACTED
    assert engine.calls == [("start", CID)]


def test_the_post_repair_hook_gets_acted_failed_and_quarantined_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    engine = LabelledEngine({}, comes_back=False)
    h = make_healer(
        engine,
        FakeStores(),
        post_repair_webhook="http://hook.invalid/x",
        max_restart_attempts=1,
        restart_cooldown=1,
    )

    def post_outcome(url: str, payload: dict[str, Any]) -> bool:
        sent.append((url, payload))
        return True

    monkeypatch.setattr(h.notifier, "post_outcome", post_outcome)
    repair(h, request())  # failed: the container does not come back
    repair(h, request())  # skipped: cooldown, no hook
    h.clock.now += 100  # type: ignore[attr-defined]
    repair(h, request())  # quarantined
    assert [p["outcome"] for _, p in sent] == ["failed", "quarantined"]
    url, first = sent[0]
    assert url == "http://hook.invalid/x"
    assert first["service"] == SID and first["action"] == "start" and first["success"] is False
    assert first["condition"] == "exited" and first["attempt"] == 1
