"""Alertmanager webhook parsing and the per-alert decision (healer.core.alerts, no I/O)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from healer.core.alerts import (
    DEFAULT_ACTIONS,
    Alert,
    IgnoreReason,
    decide,
    describe_errors,
    parse_webhook,
)
from healer.core.model import Action

STARTS = "2024-05-01T10:00:00.123456789Z"


def alert(status: str = "firing", **labels: str) -> dict[str, Any]:
    base = {"alertname": "HighErrorRate", "auto_repair": "true", "service": "web"}
    return {
        "status": status,
        "labels": {**base, **labels},
        "annotations": {"summary": "web answers 9% 5xx"},
        "startsAt": STARTS,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "c0ffee",
    }


def body(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "healer",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts) or [alert()],
    }


def one(data: dict[str, Any]) -> Alert:
    return parse_webhook(body(data)).alerts[0]


# --- parsing ---------------------------------------------------------------------------


def test_a_real_alertmanager_body_parses() -> None:
    hook = parse_webhook(body(alert(), alert("resolved")))
    assert hook.version == "4" and hook.receiver == "healer"
    assert [a.status for a in hook.alerts] == ["firing", "resolved"]
    assert hook.alerts[0].alertname == "HighErrorRate"
    assert hook.alerts[0].startsAt == STARTS  # kept verbatim: part of the dedupe key


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    data = body(alert())
    data["somethingNew"] = 1
    data["alerts"][0]["silencedBy"] = []
    assert parse_webhook(data).alerts[0].fingerprint == "c0ffee"


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda b: b.update(version="3"), "version"),
        (lambda b: b.pop("status"), "status"),
        (lambda b: b.update(alerts=[]), "alerts"),
        (lambda b: b.update(alerts="nope"), "alerts"),
        (lambda b: b["alerts"][0].update(status="pending"), "alerts.0.status"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
        (lambda b: b["alerts"][0].update(endsAt="soon"), "alerts.0.endsAt"),
        (lambda b: b["alerts"][0].update(labels={}), "alerts.0.labels"),
        (lambda b: b["alerts"][0]["labels"].update(service=3), "alerts.0.labels.service"),
        (lambda b: b["alerts"][0].pop("startsAt"), "alerts.0.startsAt"),
    ],
)
def test_bad_bodies_say_where_the_problem_is(mutate: Any, where: str) -> None:
    data = copy.deepcopy(body(alert()))
    mutate(data)
    with pytest.raises(ValidationError) as caught:
        parse_webhook(data)
    lines = describe_errors(caught.value)
    assert any(line.startswith(where + ":") for line in lines), lines


def test_not_an_object_is_a_clear_error() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_webhook(["not", "a", "body"])
    assert describe_errors(caught.value)


def test_dedupe_key_is_fingerprint_and_start() -> None:
    assert one(alert()).dedupe_key == f"c0ffee:{STARTS}"
    refired = alert()
    refired["startsAt"] = "2024-05-01T11:00:00Z"
    assert one(refired).dedupe_key != one(alert()).dedupe_key


def test_missing_fingerprint_falls_back_to_a_stable_label_hash() -> None:
    a, b = alert(), alert()
    a["fingerprint"] = b["fingerprint"] = ""
    b["labels"] = dict(reversed(list(b["labels"].items())))  # label order must not matter
    assert one(a).key_fingerprint == one(b).key_fingerprint != ""
    other = alert(service="db")
    other["fingerprint"] = ""
    assert one(other).key_fingerprint != one(a).key_fingerprint


# --- deciding ----------------------------------------------------------------------------


def test_firing_auto_repair_alert_acts_with_its_action_label() -> None:
    d = decide(one(alert(action="stop_start")))
    assert d.act and d.action == Action.STOP_START and d.repair_action == Action.STOP_START
    assert (d.service, d.alertname, d.fingerprint, d.starts_at) == (
        "web",
        "HighErrorRate",
        "c0ffee",
        STARTS,
    )
    assert d.detail == "HighErrorRate: web answers 9% 5xx"


@pytest.mark.parametrize(
    ("labels", "status", "reason"),
    [
        ({}, "resolved", IgnoreReason.RESOLVED),
        ({"auto_repair": "false"}, "firing", IgnoreReason.NOT_AUTO_REPAIR),
        ({"auto_repair": "yes"}, "firing", IgnoreReason.NOT_AUTO_REPAIR),
        ({"service": " "}, "firing", IgnoreReason.NO_SERVICE),
        ({"action": "reboot"}, "firing", IgnoreReason.UNKNOWN_ACTION),
        ({"alertname": "MyOwnAlert"}, "firing", IgnoreReason.UNKNOWN_ACTION),
        ({"action": "cleanup"}, "firing", IgnoreReason.INVALID_TARGET),
        ({"service": "host", "action": "restart"}, "firing", IgnoreReason.INVALID_TARGET),
    ],
)
def test_alerts_that_must_not_act(labels: dict[str, str], status: str, reason: str) -> None:
    d = decide(one(alert(status, **labels)))
    assert not d.act and d.reason == reason


def test_resolved_never_acts_even_with_everything_else_right() -> None:
    d = decide(one(alert("resolved", action="restart")))
    assert not d.act and d.reason == "resolved" and d.action == Action.RESTART


def test_missing_service_label_is_reported() -> None:
    data = alert()
    del data["labels"]["service"]
    d = decide(one(data))
    assert d.reason == "no_service" and "service" in d.detail


def test_unknown_action_names_the_allowed_ones() -> None:
    d = decide(one(alert(action="reboot")))
    assert "'reboot'" in d.detail and "scale_up" in d.detail


@pytest.mark.parametrize(("alertname", "action"), sorted(DEFAULT_ACTIONS.items()))
def test_alertname_gives_the_default_action(alertname: str, action: Action) -> None:
    service = "host" if action == Action.CLEANUP else "shop/web"
    d = decide(one(alert(alertname=alertname, service=service)))
    assert d.act and d.action == action


def test_the_default_table_matches_the_brief() -> None:
    expected = {
        "ContainerUnhealthy": "restart",
        "ContainerDown": "start",
        "ContainerRestarting": "stop_start",
        "HighMemoryUsage": "restart",
        "HighCPUUsage": "restart",
        "NetworkErrors": "restart",
        "HighErrorRate": "restart",
        "DiskSpaceLow": "cleanup",
        "CeleryQueueBacklog": "scale_up",
    }
    assert {k: v.value for k, v in DEFAULT_ACTIONS.items()} == expected


def test_action_label_wins_over_the_alertname_default() -> None:
    d = decide(one(alert(alertname="ContainerDown", action="restart")))
    assert d.action == Action.RESTART


def test_cleanup_and_scale_up_are_not_container_repairs() -> None:
    cleanup = decide(one(alert(service="host", action="cleanup")))
    scale = decide(one(alert(service="healer-worker", action="scale_up")))
    assert cleanup.act and cleanup.repair_action is None
    assert scale.act and scale.repair_action is None
    down = decide(one(alert(service="worker", action="scale_down")))
    assert down.act and down.action == Action.SCALE_DOWN and down.repair_action is None


def test_auto_repair_label_is_case_insensitive() -> None:
    assert decide(one(alert(auto_repair="True"))).act


@settings(max_examples=200, deadline=None)
@given(
    labels=st.dictionaries(
        st.sampled_from(["alertname", "auto_repair", "service", "action", "severity"]),
        st.sampled_from(["", "true", "false", "web", "host", "restart", "cleanup", "x"]),
        min_size=1,
    ),
    status=st.sampled_from(["firing", "resolved"]),
)
def test_decide_never_raises_and_only_firing_auto_repair_acts(
    labels: dict[str, str], status: str
) -> None:
    d = decide(Alert(status=status, labels=labels, startsAt=STARTS))
    if d.act:
        assert status == "firing" and labels.get("auto_repair") == "true"
        assert d.service and d.action is not None
    else:
        assert d.reason in set(IgnoreReason)


@pytest.mark.parametrize(
    ("label", "repair"),
    [("recreate", "recreate"), ("signal:hup", "signal:HUP"), ("example-exec", "example-exec")],
)
def test_action_label_takes_every_repair_action(label: str, repair: str) -> None:
    d = decide(one(alert(action=label)), plugins=frozenset({"example-exec"}))
    assert d.act and d.action == repair and d.repair_action == repair


def test_plugin_action_unknown_without_the_plugin_lists_known_ones() -> None:
    d = decide(one(alert(action="example-exec")))
    assert d.reason == IgnoreReason.UNKNOWN_ACTION
    assert "'example-exec'" in d.detail and "recreate" in d.detail and "signal:<NAME>" in d.detail
