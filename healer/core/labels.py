"""Per-service settings from compose labels, parsed without I/O.

A bad value never raises: it is reported in `problems` and the default stays in force.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

from healer.core.actions import UnknownAction, escalate, normalize, valid_plugin_name
from healer.core.duration.parse import parse_duration
from healer.core.model import Condition
from healer.core.rollout.labels import ROLLOUT_LABELS, RolloutLabels, parse_rollout_labels

OPT_OUT_LABEL = "auto_repair"
STOP_TIMEOUT_LABEL = "autoheal.stop.timeout"  # docker-autoheal's, per container
_PREFIX = "healer."


# Labels the healer reads that are not per-condition settings: never reported as bad.
# healer.role marks the healer's own services; healer.enable is the documented selector.
OWN_LABELS = frozenset({"healer.role", "healer.enable"})

ON_EXHAUSTED = ("quarantine", "keep_trying")
# Conditions whose detection has a threshold and a window (healer.<condition>.threshold/window).
SUSTAINED = frozenset({Condition.CPU, Condition.MEMORY, Condition.NETWORK})
SETTINGS = ("cooldown", "max_attempts", "actions", "enabled", "on_exhausted", "threshold", "window")


@dataclass(frozen=True)
class ConditionOverride:
    cooldown: float | None = None
    max_attempts: int | None = None
    actions: tuple[str, ...] = ()  # escalation: attempt k uses the k-th, the last repeats
    enabled: bool | None = None  # false: the condition is left alone for this service
    on_exhausted: str | None = None  # quarantine | keep_trying (at the backoff cap)
    threshold: float | None = None  # cpu/memory: share of the limit; network: errors/s
    window: float | None = None  # seconds the threshold must be exceeded


@dataclass(frozen=True)
class ServiceLabels:
    opted_out: bool = False
    overrides: dict[Condition, ConditionOverride] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    rollout: RolloutLabels = field(
        default_factory=RolloutLabels
    )  # healer.repair.max_unavailable, recreate order

    def cooldown(self, condition: Condition, default: float) -> float:
        o = self.overrides.get(condition)
        return default if o is None or o.cooldown is None else o.cooldown

    def max_attempts(self, condition: Condition, default: int) -> int:
        o = self.overrides.get(condition)
        return default if o is None or o.max_attempts is None else o.max_attempts

    def action(self, condition: Condition, attempt: int, default: str) -> str:
        """The action of attempt `attempt` (1-based) of an episode of `condition`."""
        o = self.overrides.get(condition)
        return escalate(o.actions if o else (), attempt, default)

    def enabled(self, condition: Condition) -> bool:
        o = self.overrides.get(condition)
        return o is None or o.enabled is not False

    def keeps_trying(self, condition: Condition) -> bool:
        """`on_exhausted: keep_trying`: no quarantine, retries at the backoff cap."""
        o = self.overrides.get(condition)
        return o is not None and o.on_exhausted == "keep_trying"

    def sustained(
        self, condition: Condition, threshold: float, window: float
    ) -> tuple[float, float]:
        """(threshold, window) of a resource condition, the labels' where they set them."""
        o = self.overrides.get(condition)
        if o is None:
            return threshold, window
        return (
            threshold if o.threshold is None else o.threshold,
            window if o.window is None else o.window,
        )


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_service_labels(
    labels: dict[str, str], plugins: Collection[str] | None = None, own: Collection[str] = ()
) -> ServiceLabels:
    """`plugins`: the installed plugin strategies, when the caller knows them; without it a
    plugin name in `healer.<condition>.actions` is only checked for its form. `own`: more
    label keys the healer uses (the selector's), never reported as bad."""
    problems: list[str] = []
    opted_out = _parse_opt_out(labels.get(OPT_OUT_LABEL), problems)
    _check_stop_timeout(labels.get(STOP_TIMEOUT_LABEL), problems)
    raw: dict[Condition, dict[str, object]] = {}
    for key, value in labels.items():
        if not key.startswith(_PREFIX) or key.startswith((_PREFIX + "scale.", _PREFIX + "boot.")):
            continue
        if key in OWN_LABELS or key in own or key in ROLLOUT_LABELS:
            continue
        _parse_condition_label(key, value, raw, problems, plugins)
    overrides = {c: ConditionOverride(**kw) for c, kw in raw.items()}  # type: ignore[arg-type]
    rollout = parse_rollout_labels(labels, problems)
    return ServiceLabels(opted_out, overrides, tuple(problems), rollout)


def _parse_opt_out(value: str | None, problems: list[str]) -> bool:
    if value is None:
        return False
    v = value.strip().lower()
    if v in _FALSE:
        return True
    if v not in _TRUE:
        problems.append(f"label auto_repair={value!r} is not true/false; repairs stay enabled")
    return False


def _parse_condition_label(
    key: str,
    value: str,
    raw: dict[Condition, dict[str, object]],
    problems: list[str],
    plugins: Collection[str] | None,
) -> None:
    parts = key[len(_PREFIX) :].split(".")
    if len(parts) != 2:
        problems.append(f"label {key} is not healer.<condition>.<setting>; ignored")
        return
    cond_name, setting = parts
    try:
        condition = Condition(cond_name)
    except ValueError:
        known = ", ".join(c.value for c in Condition)
        problems.append(f"label {key}: unknown condition {cond_name!r} (known: {known}); ignored")
        return
    if setting == "cooldown":
        parsed: object = _parse_number(key, value, problems, integer=False)
    elif setting == "max_attempts":
        parsed = _parse_number(key, value, problems, integer=True)
    elif setting == "actions":
        parsed = _parse_actions(key, value, condition, problems, plugins)
    elif setting in ("enabled", "on_exhausted"):
        parsed = _parse_switch(key, value, setting, problems)
    elif setting in ("threshold", "window"):
        parsed = _parse_sustained(key, value, condition, setting, problems)
    else:
        problems.append(f"label {key}: unknown setting {setting!r} ({', '.join(SETTINGS)})")
        return
    if parsed is not None:
        raw.setdefault(condition, {})[setting] = parsed


def _parse_number(key: str, value: str, problems: list[str], *, integer: bool) -> float | None:
    try:
        number = int(value) if integer else parse_duration(value)
    except ValueError:
        kind = "a whole number" if integer else "a duration (e.g. 300, 90s, 1m30s, 1h)"
        problems.append(f"label {key}={value!r} is not {kind}; default used")
        return None
    if number < (1 if integer else 0):
        problems.append(f"label {key}={value!r} must be {'≥ 1' if integer else '≥ 0'}")
        return None
    return number


# Repairs of these conditions do what was asked (operator, alert) or are host-wide (disk).
_FIXED_ACTION = {Condition.MANUAL, Condition.ALERT, Condition.DISK}


def _parse_actions(
    key: str,
    value: str,
    condition: Condition,
    problems: list[str],
    plugins: Collection[str] | None,
) -> tuple[str, ...] | None:
    if condition in _FIXED_ACTION:
        problems.append(
            f"label {key}: {condition.value} repairs use the action they ask for; ignored"
        )
        return None
    names = [n.strip() for n in value.split(",")]
    if not value.strip() or not all(names):
        problems.append(f"label {key}={value!r} is not a comma list of actions; default used")
        return None
    try:
        return tuple(_action_name(n, plugins) for n in names)
    except UnknownAction as exc:
        problems.append(f"label {key}: {exc}; default used")
        return None


def _action_name(name: str, plugins: Collection[str] | None) -> str:
    if plugins is not None:
        return normalize(name, plugins)
    try:
        return normalize(name, ())
    except UnknownAction:
        if valid_plugin_name(name):  # not even the form of a plugin's name
            raise
        return name


def stop_timeout_label(value: str | None) -> int | None:
    """`autoheal.stop.timeout`: whole seconds (any duration, rounded up); None when absent or
    unreadable (`healer check` reports it)."""
    if value is None:
        return None
    try:
        return math.ceil(parse_duration(value))
    except ValueError:
        return None


def _check_stop_timeout(value: str | None, problems: list[str]) -> None:
    if value is not None and stop_timeout_label(value) is None:
        problems.append(
            f"label {STOP_TIMEOUT_LABEL}={value!r} is not seconds; the default stop timeout is used"
        )


def _parse_switch(key: str, value: str, setting: str, problems: list[str]) -> object:
    v = value.strip().lower()
    if setting == "on_exhausted":
        if v in ON_EXHAUSTED:
            return v
        problems.append(f"label {key}={value!r} is not {' or '.join(ON_EXHAUSTED)}; default used")
        return None
    if v in _TRUE | _FALSE:
        return v in _TRUE
    problems.append(f"label {key}={value!r} is not true/false; the condition stays enabled")
    return None


def _parse_sustained(
    key: str, value: str, condition: Condition, setting: str, problems: list[str]
) -> float | None:
    if condition not in SUSTAINED:
        names = ", ".join(sorted(c.value for c in SUSTAINED))
        problems.append(f"label {key}: only {names} have a {setting}; ignored")
        return None
    if setting == "window":
        number = _parse_number(key, value, problems, integer=False)
        if number == 0:
            problems.append(f"label {key}={value!r} must be above 0; default used")
            return None
        return number
    return _parse_threshold(key, value, condition, problems)


def _parse_threshold(
    key: str, value: str, condition: Condition, problems: list[str]
) -> float | None:
    """cpu/memory: a share of the limit (0.95 or 95%); network: errors+drops per second."""
    text = value.strip()
    percent = text.endswith("%")
    try:
        number = float(text.rstrip("%")) / (100 if percent else 1)
    except ValueError:
        number = float("nan")
    share = condition != Condition.NETWORK
    if not math.isfinite(number) or number <= 0 or (share and number > 1):
        kind = "a share of the limit in (0, 1] (e.g. 0.95 or 95%)" if share else "a rate > 0"
        problems.append(f"label {key}={value!r} is not {kind}; default used")
        return None
    return number
