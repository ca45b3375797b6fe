"""One duration syntax for variables, labels and the CLI: compose's, or plain seconds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healer.core.duration.parse import parse_duration, seconds

PROPS = settings(max_examples=80, deadline=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300", 300),
        ("90s", 90),
        ("5m", 300),
        ("1h", 3600),
        ("7d", 7 * 86400),
        ("1.5m", 90),
        (" 2M ", 120),
        ("0", 0),
        ("0.25", 0.25),
        ("1m30s", 90),
        ("500ms", 0.5),
        ("1h2m3s", 3723),
        ("2h", 7200),
        ("1500us", 0.0015),
        ("+10s", 10),
    ],
)
def test_durations(text: str, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "s", "fast", "5 minutes", "1h 30m", "nan", "inf", "-inf", "1e999", "5x", "m5"],
)
def test_bad_durations_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["-5", "-1m30s", " -0.5s"])
def test_negative_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_duration(text)


def test_numbers_pass_unless_negative() -> None:
    assert seconds(30) == 30
    assert seconds("1m") == 60
    with pytest.raises(ValueError, match="negative"):
        seconds(-1.0)


@PROPS
@given(st.text(max_size=12))
def test_parse_duration_returns_a_finite_non_negative_number_or_raises(text: str) -> None:
    try:
        value = parse_duration(text)
    except ValueError:
        return
    assert math.isfinite(value) and value >= 0


@PROPS
@given(st.integers(0, 10_000), st.sampled_from([("", 1), ("s", 1), ("m", 60), ("h", 3600)]))
def test_units_multiply(n: int, unit: tuple[str, int]) -> None:
    suffix, factor = unit
    assert parse_duration(f"{n}{suffix}") == n * factor


@PROPS
@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59))
def test_compound_durations_add_up(h: int, m: int, s: int) -> None:
    assert parse_duration(f"{h}h{m}m{s}s") == h * 3600 + m * 60 + s
