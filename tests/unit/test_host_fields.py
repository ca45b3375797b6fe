"""Metric hash fields that carry the host: the host is split off the left, the service id
(which may hold `|`) is what remains before the fixed parts; fields written before hosts
existed are dropped rather than misread."""

from __future__ import annotations

from typing import Any

from healer.adapters.metrics.counters import _by_parts
from healer.adapters.store.boot import boot_series


def test_host_first_and_a_pipe_in_the_service_id() -> None:
    raw = {
        "node-a|odd/we|b|restart|true": "2",
        "node-b|shop/web|restart|false": "1",
        "shop/web|restart|true": "5",  # before hosts: one part short
    }
    assert _by_parts(raw, 4, int) == {
        ("node-a", "odd/we|b", "restart", "true"): 2,
        ("node-b", "shop/web", "restart", "false"): 1,
    }


class _Hash:
    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields

    def hgetall(self, _key: str) -> dict[str, str]:
        return self.fields


def test_boot_series_carry_the_host_and_skip_fields_from_before_hosts() -> None:
    r: Any = _Hash(
        {
            "duration|node-a|shop": "4.5",
            "duration|node-b|shop": "9.0",
            "running|node-b|shop": "1.0",
            "timeouts|node-a|shop|shop/app|shop/db": "2",
            "duration|shop": "3.0",  # before hosts
        }
    )
    series = {m.name: m for m in boot_series(r)}
    durations = {
        (s.labels["host"], s.labels["project"]): s.value
        for s in series["healer_boot_recovery_duration_seconds"].samples
    }
    assert durations == {("node-a", "shop"): 4.5, ("node-b", "shop"): 9.0}
    (running,) = series["healer_boot_recovery_in_progress"].samples
    assert running.labels == {"host": "node-b", "project": "shop"}
    (timeout,) = [
        s for s in series["healer_boot_dependency_timeouts"].samples if s.name.endswith("_total")
    ]
    assert timeout.labels == {
        "host": "node-a",
        "project": "shop",
        "service": "shop/app",
        "blocker": "shop/db",
    }
