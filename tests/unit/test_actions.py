"""Repair action names (healer.core.actions) and the escalation label, without I/O."""

from __future__ import annotations

import pytest

from healer.core.actions import (
    BUILTIN_ACTIONS,
    UnknownAction,
    escalate,
    known_names,
    normalize,
    signal_of,
    valid_plugin_name,
)
from healer.core.labels import parse_service_labels
from healer.core.model import Condition

PLUGINS = frozenset({"example-exec", "flush_cache"})


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("restart", "restart"),
        (" Recreate ", "recreate"),
        ("stop_start", "stop_start"),
        ("signal:HUP", "signal:HUP"),
        ("signal:sighup", "signal:HUP"),
        ("SIGNAL:usr1", "signal:USR1"),
        ("example-exec", "example-exec"),
    ],
)
def test_known_names_are_normalized(name: str, canonical: str) -> None:
    assert normalize(name, PLUGINS) == canonical


@pytest.mark.parametrize("name", ["reboot", "signal:", "signal:NOPE", "Example-Exec", ""])
def test_unknown_names_are_refused_naming_every_known_one(name: str) -> None:
    with pytest.raises(UnknownAction) as exc:
        normalize(name, PLUGINS)
    message = str(exc.value)
    for known in [*BUILTIN_ACTIONS, "signal:<NAME>", *PLUGINS]:
        assert known in message


def test_cleanup_is_refused_with_where_to_find_it() -> None:
    with pytest.raises(UnknownAction, match="healer cleanup"):
        normalize("cleanup", ())


def test_known_names_lists_builtins_signal_then_plugins_sorted() -> None:
    assert known_names({"b", "a"}) == [*BUILTIN_ACTIONS, "signal:<NAME>", "a", "b"]


def test_signal_of() -> None:
    assert signal_of("signal:HUP") == "HUP"
    assert signal_of("restart") is None and signal_of("example-exec") is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("flush-cache", ""),
        ("my.strategy_2", ""),
        ("restart", "built-in"),
        ("cleanup", "built-in"),
        ("signal:x", "reserved"),
        ("Upper", "not a valid action name"),
        ("has space", "not a valid action name"),
    ],
)
def test_plugin_names(name: str, problem: str) -> None:
    found = valid_plugin_name(name)
    assert (problem in found) if problem else found == ""


@pytest.mark.parametrize(
    ("attempt", "action"), [(0, "restart"), (1, "restart"), (2, "recreate"), (3, "recreate")]
)
def test_escalation_uses_the_kth_action_and_repeats_the_last(attempt: int, action: str) -> None:
    assert escalate(("restart", "recreate"), attempt, "start") == action


def test_no_escalation_list_keeps_the_default() -> None:
    assert escalate((), 4, "start") == "start"


# --- healer.<condition>.actions ------------------------------------------------------------


def test_actions_label_escalates_per_condition() -> None:
    labels = parse_service_labels(
        {"healer.unhealthy.actions": "restart, recreate", "healer.exited.actions": "signal:hup"}
    )
    assert labels.problems == ()
    assert [labels.action(Condition.UNHEALTHY, k, "restart") for k in (1, 2, 3)] == [
        "restart",
        "recreate",
        "recreate",
    ]
    assert labels.action(Condition.EXITED, 1, "start") == "signal:HUP"
    # Conditions without the label keep the seed's default action.
    assert labels.action(Condition.MEMORY, 2, "restart") == "restart"


def test_plugin_names_are_checked_against_the_installed_ones_when_known() -> None:
    raw = {"healer.unhealthy.actions": "example-exec,recreate"}
    assert parse_service_labels(raw).action(Condition.UNHEALTHY, 1, "restart") == "example-exec"
    assert parse_service_labels(raw, PLUGINS).problems == ()
    missing = parse_service_labels(raw, frozenset())
    assert missing.action(Condition.UNHEALTHY, 1, "restart") == "restart"
    assert "example-exec" in missing.problems[0] and "known:" in missing.problems[0]


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ({"healer.unhealthy.actions": "restart,reboot now"}, "unknown action"),
        ({"healer.unhealthy.actions": "restart,,recreate"}, "comma list"),
        ({"healer.unhealthy.actions": " "}, "comma list"),
        ({"healer.unhealthy.actions": "signal:NOPE"}, "signal name"),
        ({"healer.manual.actions": "recreate"}, "use the action they ask for"),
        ({"healer.alert.actions": "recreate"}, "use the action they ask for"),
        ({"healer.unhealthy.action": "recreate"}, "unknown setting"),
    ],
)
def test_bad_actions_labels_are_reported_and_defaults_stay(
    labels: dict[str, str], problem: str
) -> None:
    parsed = parse_service_labels(labels)
    assert len(parsed.problems) == 1 and problem in parsed.problems[0]
    for condition in (Condition.UNHEALTHY, Condition.MANUAL, Condition.ALERT):
        assert parsed.action(condition, 2, "restart") == "restart"
