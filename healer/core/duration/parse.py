"""Compose's duration syntax (`1m30s`, `500ms`, `2h`) or plain seconds, as a float of seconds.

Compose reads durations with Go's time.ParseDuration; the same units are accepted here, plus
`d` for days (retention settings are counted in days). A unit-less number is seconds. A sign is
refused: no healer duration can be negative, and `-5` in a variable is a typo, not a wish.
"""

from __future__ import annotations

import math
import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")

HINT = "seconds or a compose duration such as 90, 1m30s, 500ms, 2h"


def parse_duration(text: str) -> float:
    """`300`, `90s`, `1m30s`, `500ms`, `7d` → seconds; ValueError on anything else."""
    t = text.strip().lower()
    if not t:
        raise ValueError(f"empty duration (expected {HINT})")
    if t.startswith("-"):
        raise ValueError(f"{text!r} is negative (expected {HINT})")
    t = t.removeprefix("+")
    if _NUMBER.fullmatch(t):
        return _finite(float(t), text)
    pos, total = 0, 0.0
    for m in _PART.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(t) or pos == 0:
        raise ValueError(f"{text!r} is not a duration (expected {HINT})")
    return _finite(total, text)


def seconds(value: object) -> object:
    """A setting's raw value as seconds: text is parsed, a number is checked for its sign,
    anything else is left to the field's own type check."""
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ValueError(f"{value} is negative (expected {HINT})")
    return value


def _finite(value: float, text: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite duration")
    return value
