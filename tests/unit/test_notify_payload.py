"""Slack-compatible webhook JSON for quarantines and failed repairs."""

from __future__ import annotations

import json

import pytest

from healer.adapters.notify import slack_payload


def test_critical_quarantine_payload() -> None:
    p = slack_payload(
        "critical",
        "shop/web quarantined",
        "3 repairs in this episode reached max_attempts 3",
        {"service": "shop/web", "condition": "unhealthy", "attempts": "3"},
    )
    assert p["text"] == (
        ":rotating_light: [CRITICAL] shop/web quarantined: "
        "3 repairs in this episode reached max_attempts 3"
    )
    attachments = p["attachments"]
    assert isinstance(attachments, list)
    (att,) = attachments
    assert att == {
        "color": "danger",
        "title": "shop/web quarantined",
        "text": "3 repairs in this episode reached max_attempts 3",
        "fields": [
            {"title": "service", "value": "shop/web", "short": True},
            {"title": "condition", "value": "unhealthy", "short": True},
            {"title": "attempts", "value": "3", "short": True},
        ],
    }


@pytest.mark.parametrize(
    ("severity", "icon", "color"),
    [
        ("critical", ":rotating_light:", "danger"),
        ("warning", ":warning:", "warning"),
        ("info", ":information_source:", "good"),
    ],
)
def test_severity_sets_icon_and_color(severity: str, icon: str, color: str) -> None:
    p = slack_payload(severity, "t", "x", {})
    assert str(p["text"]).startswith(f"{icon} [{severity.upper()}] t: x")
    assert p["attachments"][0]["color"] == color  # type: ignore[index]


def test_unknown_severity_still_makes_a_message() -> None:
    p = slack_payload("debug", "t", "x", {})
    assert "[DEBUG] t: x" in str(p["text"])
    assert p["attachments"][0]["color"] == "good"  # type: ignore[index]


def test_no_fields_and_json_serialisable() -> None:
    p = slack_payload("warning", "repair failed", "engine said 500", {})
    assert p["attachments"][0]["fields"] == []  # type: ignore[index]
    assert json.loads(json.dumps(p)) == p


def test_field_order_is_kept() -> None:
    fields = {f"k{i}": str(i) for i in range(6)}
    p = slack_payload("info", "t", "x", fields)
    titles = [f["title"] for f in p["attachments"][0]["fields"]]  # type: ignore[index]
    assert titles == list(fields)
