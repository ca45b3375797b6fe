"""Per-service settings from compose labels, parsed without I/O.

A bad value never raises: it is reported in `problems` and the default stays in force.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from healer.core.actions import UnknownAction, escalate, normalize, valid_plugin_name
from healer.core.model import Condition
from healer.core.rollout.labels import ROLLOUT_LABELS, RolloutLabels, parse_rollout_labels

OPT_OUT_LABEL = "auto_repair"
_PREFIX = "healer."


@dataclass(frozen=True)
class ConditionOverride:
    cooldown: float | None = None
    max_attempts: int | None = None
    actions: tuple[str, ...] = ()  # escalation: attempt k uses the k-th, the last repeats


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


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_service_labels(
    labels: dict[str, str], plugins: Collection[str] | None = None
) -> ServiceLabels:
    """`plugins`: the installed plugin strategies, when the caller knows them; without it a
    plugin name in `healer.<condition>.actions` is only checked for its form."""
    problems: list[str] = []
    opted_out = _parse_opt_out(labels.get(OPT_OUT_LABEL), problems)
    raw: dict[Condition, dict[str, object]] = {}
    for key, value in labels.items():
        if not key.startswith(_PREFIX) or key.startswith((_PREFIX + "scale.", _PREFIX + "boot.")):
            continue
        if key in ROLLOUT_LABELS:
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
    else:
        problems.append(
            f"label {key}: unknown setting {setting!r} (cooldown, max_attempts, actions)"
        )
        return
    if parsed is not None:
        raw.setdefault(condition, {})[setting] = parsed


def _parse_number(key: str, value: str, problems: list[str], *, integer: bool) -> float | None:
    try:
        number = int(value) if integer else parse_duration(value)
    except ValueError:
        kind = "a whole number" if integer else "seconds (e.g. 300, 90s, 5m, 1h)"
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


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """`300`, `90s`, `5m`, `1h`, `7d` → seconds; ValueError on anything else."""
    t = text.strip().lower()
    if not t:
        raise ValueError("empty duration")
    unit = _UNITS.get(t[-1])
    number = t[:-1] if unit is not None else t
    value = float(number) * (unit or 1.0)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite duration: {text!r}")
    return value
