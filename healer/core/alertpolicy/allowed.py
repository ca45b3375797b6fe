"""Which actions an alert may trigger on a service.

An alert is whatever Prometheus and Alertmanager send, and the scraped apps shape part of
it: so an alert may only do what cannot hurt by default (restart, start, stop_start, and
scale_up on a service that opted into autoscaling, scale_down on one that also set
healer.scale.alert_down=true). Anything else is the operator's choice,
per service, with the label `healer.alerts.actions`: a comma list of action names, where
`signal` stands for the gentle signals (HUP, USR1, USR2, WINCH, TERM) and any other signal
must be named (`signal:KILL`). The host-wide cleanup stays an alert action: it keeps the
disk threshold and the cooldown (healer.engine.disk).
"""

from __future__ import annotations

from collections.abc import Mapping

from healer.core.actions import SIGNAL_PREFIX, signal_of
from healer.core.model import Action
from healer.core.scaling.labels import wants_autoscaling

ACTIONS_LABEL = "healer.alerts.actions"
ALERT_DOWN_LABEL = "healer.scale.alert_down"
DEFAULT_ALERT_ACTIONS = frozenset(
    {Action.RESTART.value, Action.START.value, Action.STOP_START.value}
)
GENTLE_SIGNALS = frozenset({"HUP", "USR1", "USR2", "WINCH", "TERM"})
_ANY_GENTLE_SIGNAL = "signal"


def listed_actions(labels: Mapping[str, str]) -> frozenset[str]:
    """The label's entries, spelled as actions are (`signal:sigkill` is `signal:KILL`)."""
    out = set()
    for entry in labels.get(ACTIONS_LABEL, "").split(","):
        text = entry.strip()
        low = text.lower()
        if low.startswith(SIGNAL_PREFIX):
            out.add(SIGNAL_PREFIX + low[len(SIGNAL_PREFIX) :].upper().removeprefix("SIG"))
        elif low in (*(a.value for a in Action), _ANY_GENTLE_SIGNAL):
            out.add(low)
        elif text:
            out.add(text)  # a plugin strategy's name, case-sensitive like its entry point
    return frozenset(out)


def alert_refusal(action: str, labels: Mapping[str, str]) -> str | None:
    """Why an alert may not run `action` on the service carrying `labels`; None if it may."""
    listed = listed_actions(labels)
    if action in DEFAULT_ALERT_ACTIONS or action in listed:
        return None
    if action == Action.SCALE_UP.value and wants_autoscaling(labels):
        return None
    # Taking capacity away needs the service's own opt-in as well.
    opted_down = labels.get(ALERT_DOWN_LABEL, "").strip().lower() == "true"
    if action == Action.SCALE_DOWN.value and wants_autoscaling(labels) and opted_down:
        return None
    sig = signal_of(action)
    if sig is not None and sig in GENTLE_SIGNALS and _ANY_GENTLE_SIGNAL in listed:
        return None
    hint = action if sig is None or sig in GENTLE_SIGNALS else f"{SIGNAL_PREFIX}{sig}"
    return (
        f"alerts may only restart, start or stop_start this service (scale_up when it "
        f"autoscales, scale_down when it also has {ALERT_DOWN_LABEL}=true); "
        f"add {hint!r} to its label {ACTIONS_LABEL} to allow {action!r}"
    )
