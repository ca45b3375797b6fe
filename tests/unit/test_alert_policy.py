"""What an alert may do to a service: the default actions, the label that widens them, and the
bounds of an alert's fields."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from healer.adapters.store.history import Record
from healer.core.alertpolicy.allowed import alert_refusal, listed_actions
from healer.core.alerts import MAX_ANNOTATION, MAX_LABEL_VALUE, Alert


@pytest.mark.parametrize("action", ["restart", "start", "stop_start"])
def test_the_gentle_actions_need_no_label(action: str) -> None:
    assert alert_refusal(action, {}) is None


@pytest.mark.parametrize("action", ["recreate", "signal:KILL", "signal:HUP", "my-plugin"])
def test_anything_else_needs_the_label(action: str) -> None:
    refusal = alert_refusal(action, {})
    assert refusal is not None and "healer.alerts.actions" in refusal


def test_the_label_widens_per_action_and_signal() -> None:
    labels = {"healer.alerts.actions": " recreate , SIGNAL:sigkill, signal, my-plugin"}
    assert listed_actions(labels) >= {"recreate", "signal:KILL", "signal", "my-plugin"}
    for action in ("recreate", "signal:KILL", "signal:HUP", "signal:TERM", "my-plugin"):
        assert alert_refusal(action, labels) is None, action
    # `signal` covers the gentle ones only; STOP must be named.
    assert alert_refusal("signal:STOP", labels) is not None
    assert alert_refusal("My-Plugin", labels) is not None  # plugin names are exact


def test_scale_up_only_for_a_service_that_autoscales() -> None:
    assert alert_refusal("scale_up", {}) is not None
    assert alert_refusal("scale_up", {"healer.scale.max": "4"}) is None


def test_alert_fields_are_bounded() -> None:
    base = {"status": "firing", "startsAt": "2024-05-01T10:00:00Z"}
    with pytest.raises(ValidationError, match="longer than"):
        Alert.model_validate({**base, "labels": {"service": "x" * (MAX_LABEL_VALUE + 1)}})
    with pytest.raises(ValidationError, match="at most"):
        Alert.model_validate({**base, "labels": {f"l{i}": "v" for i in range(100)}})
    long = Alert.model_validate(
        {**base, "labels": {"service": "web"}, "annotations": {"summary": "y" * 10_000}}
    )
    assert len(long.annotations["summary"]) == MAX_ANNOTATION


def test_a_newline_in_a_service_name_cannot_forge_a_log_line() -> None:
    line = Record(sid="web\n2024-01-01T00:00:00Z ACTED db restart", outcome="skipped").line()
    assert "\n" not in line and "'web\\n2024" in line
