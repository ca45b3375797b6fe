"""Docker events → ContainerEvent, on payloads shaped like the engine's (API 1.41+)."""

from __future__ import annotations

from typing import Any

import pytest

from healer.core.events import ContainerEvent, parse_event
from healer.core.model import ContainerId, ServiceId

CID = "3f4e" + "0" * 60
T_NS = 1_718_000_000_123_456_789


def event(action: str, **attrs: str) -> dict[str, Any]:
    return {
        "status": action,
        "id": CID,
        "from": "busybox:1.36",
        "Type": "container",
        "Action": action,
        "Actor": {
            "ID": CID,
            "Attributes": {
                "com.docker.compose.project": "shop",
                "com.docker.compose.service": "web",
                "com.docker.compose.container-number": "1",
                "image": "busybox:1.36",
                "name": "shop-web-1",
                **attrs,
            },
        },
        "scope": "local",
        "time": T_NS // 10**9,
        "timeNano": T_NS,
    }


def parsed(raw: dict[str, Any]) -> ContainerEvent:
    e = parse_event(raw)
    assert e is not None
    return e


def test_die_carries_service_container_time_and_exit_code() -> None:
    e = parsed(event("die", exitCode="137"))
    assert e == ContainerEvent(
        action="die",
        sid=ServiceId("shop/web"),
        container_id=ContainerId(CID),
        time=T_NS / 1e9,
        signal=None,
        exit_code=137,
        name="shop-web-1",
    )
    assert e.triggers_probe
    assert not e.looks_like_hand_stop


@pytest.mark.parametrize(
    ("action", "probe"),
    [
        ("die", True),
        ("oom", True),
        ("stop", True),
        ("health_status: unhealthy", True),
        ("health_status: healthy", True),
        ("health_status: starting", True),
        ("start", True),
        ("restart", False),
        ("destroy", True),
        ("kill", False),
    ],
)
def test_which_events_trigger_a_probe(action: str, probe: bool) -> None:
    assert parsed(event(action)).triggers_probe is probe


@pytest.mark.parametrize(
    "action",
    [
        "create",
        "attach",
        "exec_create: sh -c true",
        "exec_start: sh -c true",
        "exec_die",
        "pause",
        "top",
        "resize",
        "rename",
    ],
)
def test_uninteresting_actions_are_dropped(action: str) -> None:
    assert parse_event(event(action)) is None


def test_kill_with_sigterm_looks_like_a_hand_stop() -> None:
    e = parsed(event("kill", signal="15"))
    assert e.signal == "15"
    assert e.looks_like_hand_stop


@pytest.mark.parametrize("signal", ["9", "SIGKILL", None])
def test_kill_with_sigkill_or_no_signal_does_not(signal: str | None) -> None:
    raw = event("kill") if signal is None else event("kill", signal=signal)
    assert not parsed(raw).looks_like_hand_stop


def test_stop_event_looks_like_a_hand_stop_and_die_or_oom_do_not() -> None:
    assert parsed(event("stop")).looks_like_hand_stop
    assert not parsed(event("die", exitCode="0")).looks_like_hand_stop
    assert not parsed(event("oom")).looks_like_hand_stop


def test_compose_stop_sequence() -> None:
    """`docker compose stop web` emits kill(15), die(0 or 143), stop."""
    seq = [event("kill", signal="15"), event("die", exitCode="143"), event("stop")]
    kinds = [(e.action, e.looks_like_hand_stop, e.triggers_probe) for e in map(parsed, seq)]
    assert kinds == [("kill", True, False), ("die", False, True), ("stop", True, True)]


def test_docker_kill_sequence_is_a_crash() -> None:
    seq = [event("kill", signal="9"), event("die", exitCode="137")]
    assert not any(parsed(r).looks_like_hand_stop for r in seq)


@pytest.mark.parametrize(
    "attrs",
    [
        {"com.docker.compose.project": ""},
        {"com.docker.compose.service": ""},
    ],
)
def test_compose_labels_with_empty_values_are_not_ours(attrs: dict[str, str]) -> None:
    assert parse_event(event("die", **attrs)) is None


def test_a_plain_container_is_the_service_dash_name() -> None:
    raw = event("die")
    raw["Actor"]["Attributes"] = {"image": "nginx", "name": "loner", "exitCode": "1"}
    ev = parse_event(raw)
    assert ev is not None
    assert (ev.sid, ev.project, ev.exit_code) == ("-/loner", "-", 1)
    assert ev.labels["image"] == "nginx"


def test_missing_attributes_or_actor_is_ignored() -> None:
    raw = event("die")
    raw["Actor"] = {"ID": CID}
    assert parse_event(raw) is None
    del raw["Actor"]
    assert parse_event(raw) is None


@pytest.mark.parametrize("kind", ["network", "image", "volume", "daemon", None])
def test_non_container_events_are_ignored(kind: str | None) -> None:
    raw = event("die")
    raw["Type"] = kind
    assert parse_event(raw) is None


def test_time_falls_back_to_seconds_without_time_nano() -> None:
    raw = event("die")
    del raw["timeNano"]
    assert parsed(raw).time == T_NS // 10**9


def test_container_id_falls_back_to_the_legacy_id() -> None:
    raw = event("die")
    raw["Actor"]["ID"] = ""
    assert parsed(raw).container_id == CID


@pytest.mark.parametrize(("code", "parsed_code"), [("0", 0), ("-1", -1), ("", None), ("x", None)])
def test_exit_code_parsing(code: str, parsed_code: int | None) -> None:
    assert parsed(event("die", exitCode=code)).exit_code == parsed_code


def test_legacy_status_field_is_read_when_action_is_missing() -> None:
    raw = event("die")
    del raw["Action"]
    assert parsed(raw).action == "die"
