"""Per-service labels: opt-out, per-condition overrides, and bad values that never raise."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healer.core.labels import (
    ConditionOverride,
    ServiceLabels,
    parse_service_labels,
    stop_timeout_label,
)
from healer.core.model import Condition

PROPS = settings(max_examples=80, deadline=None)


# --- opt-out -----------------------------------------------------------------------------------


def test_no_labels_means_defaults() -> None:
    parsed = parse_service_labels({})
    assert parsed == ServiceLabels()
    assert not parsed.opted_out
    assert parsed.cooldown(Condition.UNHEALTHY, 300) == 300
    assert parsed.max_attempts(Condition.UNHEALTHY, 3) == 3


@pytest.mark.parametrize("value", ["false", "False", "FALSE", " false ", "0", "no", "off"])
def test_auto_repair_false_opts_out(value: str) -> None:
    parsed = parse_service_labels({"auto_repair": value})
    assert parsed.opted_out
    assert parsed.problems == ()


@pytest.mark.parametrize("value", ["true", "True", "1", "yes", "on"])
def test_auto_repair_true_keeps_repairs(value: str) -> None:
    parsed = parse_service_labels({"auto_repair": value})
    assert not parsed.opted_out
    assert parsed.problems == ()


@pytest.mark.parametrize("value", ["maybe", "", "flase"])
def test_unreadable_auto_repair_is_reported_and_repairs_stay_on(value: str) -> None:
    parsed = parse_service_labels({"auto_repair": value})
    assert not parsed.opted_out
    assert len(parsed.problems) == 1
    assert "auto_repair" in parsed.problems[0]


# --- overrides ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"), [("90s", 90), ("5m", 300), ("1h", 3600), ("45", 45), ("0", 0)]
)
def test_cooldown_override(value: str, seconds: float) -> None:
    parsed = parse_service_labels({"healer.unhealthy.cooldown": value})
    assert parsed.problems == ()
    assert parsed.cooldown(Condition.UNHEALTHY, 300) == seconds
    assert parsed.cooldown(Condition.EXITED, 300) == 300  # other conditions keep theirs


def test_max_attempts_override() -> None:
    parsed = parse_service_labels({"healer.memory.max_attempts": "5"})
    assert parsed.problems == ()
    assert parsed.max_attempts(Condition.MEMORY, 2) == 5
    assert parsed.max_attempts(Condition.CPU, 2) == 2
    assert parsed.cooldown(Condition.MEMORY, 600) == 600  # only what was set is overridden


def test_both_settings_of_several_conditions() -> None:
    parsed = parse_service_labels(
        {
            "healer.exited.cooldown": "1m",
            "healer.exited.max_attempts": "10",
            "healer.restarting.cooldown": "2h",
            "com.docker.compose.project": "shop",
            "traefik.enable": "true",
        }
    )
    assert parsed.problems == ()
    assert parsed.overrides == {
        Condition.EXITED: ConditionOverride(cooldown=60, max_attempts=10),
        Condition.RESTARTING: ConditionOverride(cooldown=7200),
    }


def test_scale_labels_are_not_this_parsers_business() -> None:
    parsed = parse_service_labels(
        {
            "healer.scale.min": "1",
            "healer.scale.max": "oops",
            "healer.scale.metric": "queue",
            "healer.scale.queues": "a,b",
        }
    )
    assert parsed == ServiceLabels()


# --- bad values: reported, defaults kept, never raises -----------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("healer.unhealthy.cooldown", "fast"),
        ("healer.unhealthy.cooldown", "-5"),
        ("healer.unhealthy.cooldown", "-1m"),
        ("healer.unhealthy.cooldown", ""),
        ("healer.unhealthy.cooldown", "nan"),
        ("healer.unhealthy.cooldown", "5 minutes"),
        ("healer.unhealthy.max_attempts", "0"),
        ("healer.unhealthy.max_attempts", "-1"),
        ("healer.unhealthy.max_attempts", "2.5"),
        ("healer.unhealthy.max_attempts", "three"),
        ("healer.unhealthy.max_attempts", "3x"),
    ],
)
def test_bad_value_is_reported_and_the_default_kept(key: str, value: str) -> None:
    parsed = parse_service_labels({key: value})
    assert len(parsed.problems) == 1
    assert key in parsed.problems[0]
    assert Condition.UNHEALTHY not in parsed.overrides
    assert parsed.cooldown(Condition.UNHEALTHY, 300) == 300
    assert parsed.max_attempts(Condition.UNHEALTHY, 3) == 3


def test_one_bad_setting_does_not_spoil_the_good_one() -> None:
    parsed = parse_service_labels(
        {"healer.unhealthy.cooldown": "10m", "healer.unhealthy.max_attempts": "lots"}
    )
    assert parsed.cooldown(Condition.UNHEALTHY, 300) == 600
    assert parsed.max_attempts(Condition.UNHEALTHY, 3) == 3
    assert len(parsed.problems) == 1


def test_unknown_condition_names_the_known_ones() -> None:
    parsed = parse_service_labels({"healer.unhelthy.cooldown": "5m"})
    assert parsed.overrides == {}
    (problem,) = parsed.problems
    assert "unhelthy" in problem
    for c in Condition:
        assert c.value in problem


@pytest.mark.parametrize(
    "key", ["healer.unhealthy.coldown", "healer.unhealthy", "healer.unhealthy.cooldown.extra"]
)
def test_malformed_keys_are_reported(key: str) -> None:
    parsed = parse_service_labels({key: "5"})
    assert parsed.overrides == {}
    assert len(parsed.problems) == 1
    assert key in parsed.problems[0]


def test_every_problem_is_listed() -> None:
    parsed = parse_service_labels(
        {
            "auto_repair": "perhaps",
            "healer.unhealthy.cooldown": "soon",
            "healer.nope.cooldown": "5m",
            "healer.exited.max_attempts": "0",
        }
    )
    assert len(parsed.problems) == 4
    assert not parsed.opted_out
    assert parsed.overrides == {}


label_keys = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda c, s: f"healer.{c}.{s}",
        st.sampled_from([*(c.value for c in Condition), "bogus", ""]),
        st.sampled_from(["cooldown", "max_attempts", "other", ""]),
    ),
    st.just("auto_repair"),
)


@PROPS
@given(st.dictionaries(label_keys, st.text(max_size=12), max_size=8))
def test_any_labels_parse_without_raising(labels: dict[str, str]) -> None:
    parsed = parse_service_labels(labels)
    for override in parsed.overrides.values():
        assert override.cooldown is None or (
            math.isfinite(override.cooldown) and override.cooldown >= 0
        )
        assert override.max_attempts is None or override.max_attempts >= 1
    if "auto_repair" not in labels:
        assert not parsed.opted_out


# --- every condition under the service's control -----------------------------------------------


def test_enabled_false_switches_a_condition_off() -> None:
    parsed = parse_service_labels({"healer.memory.enabled": "false", "healer.cpu.enabled": "true"})
    assert parsed.problems == ()
    assert not parsed.enabled(Condition.MEMORY)
    assert parsed.enabled(Condition.CPU) and parsed.enabled(Condition.UNHEALTHY)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"healer.cpu.threshold": "0.95", "healer.cpu.window": "15m"}, (0.95, 900)),
        ({"healer.cpu.threshold": "95%"}, (0.95, 600)),
        ({"healer.cpu.window": "1m30s"}, (0.9, 90)),
        ({}, (0.9, 600)),
    ],
)
def test_threshold_and_window_labels(labels: dict[str, str], expected: tuple[float, float]) -> None:
    parsed = parse_service_labels(labels)
    assert parsed.problems == ()
    threshold, window = parsed.sustained(Condition.CPU, 0.9, 600)
    assert (round(threshold, 6), window) == expected


def test_network_threshold_is_a_rate() -> None:
    parsed = parse_service_labels({"healer.network.threshold": "50"})
    assert parsed.sustained(Condition.NETWORK, 10, 120) == (50, 120)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("healer.cpu.threshold", "1.5"),
        ("healer.memory.threshold", "0"),
        ("healer.memory.threshold", "lots"),
        ("healer.network.threshold", "-1"),
        ("healer.memory.window", "0"),
        ("healer.memory.window", "-20s"),
        ("healer.unhealthy.threshold", "0.5"),
        ("healer.exited.window", "10s"),
        ("healer.memory.enabled", "maybe"),
        ("healer.exited.on_exhausted", "retry"),
        ("autoheal.stop.timeout", "soon"),
    ],
)
def test_bad_control_labels_are_reported(key: str, value: str) -> None:
    parsed = parse_service_labels({key: value})
    assert len(parsed.problems) == 1 and key in parsed.problems[0]
    assert parsed.enabled(Condition.MEMORY)


def test_on_exhausted_keep_trying() -> None:
    parsed = parse_service_labels({"healer.exited.on_exhausted": "keep_trying"})
    assert parsed.keeps_trying(Condition.EXITED)
    assert not parsed.keeps_trying(Condition.UNHEALTHY)
    assert not parse_service_labels({"healer.exited.on_exhausted": "quarantine"}).keeps_trying(
        Condition.EXITED
    )


def test_the_healers_own_labels_are_not_bad_labels() -> None:
    own = {
        "healer.role": "worker",
        "healer.enable": "true",
        "healer.scale.min": "1",
        "healer.boot.timeout": "30s",
        "autoheal": "true",
        "autoheal.stop.timeout": "20",
        "com.docker.compose.project": "shop",
    }
    assert parse_service_labels(own).problems == ()


def test_every_label_in_the_projects_own_compose_file_is_known() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    doc = yaml.safe_load((root / "docker-compose.yml").read_text())
    for name, service in doc["services"].items():
        labels = service.get("labels") or {}
        if isinstance(labels, list):
            labels = dict(item.split("=", 1) for item in labels)
        labels = {str(k): str(v) for k, v in labels.items()}
        assert parse_service_labels(labels).problems == (), name


def test_stop_timeout_label() -> None:
    assert stop_timeout_label("20") == 20
    assert stop_timeout_label("1m") == 60
    assert stop_timeout_label("2.5") == 3
    assert stop_timeout_label(None) is None
    assert stop_timeout_label("x") is None


def test_the_selectors_own_label_is_never_a_bad_label() -> None:
    """A `healer.<word>` selector (HEALER_LABEL_SELECTOR=healer.managed=true) is a label the
    healer uses: reported as unknown only when nobody told the parser it is the selector's."""
    labels = {"healer.managed": "true", "healer.unhealthy.cooldown": "60"}
    assert parse_service_labels(labels).problems  # an unknown `healer.managed` otherwise
    parsed = parse_service_labels(labels, own={"healer.managed"})
    assert parsed.problems == () and parsed.cooldown(Condition.UNHEALTHY, 300) == 60
