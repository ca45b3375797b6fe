"""Is a mass of unhealthy services the host's overload, or many services failing for real?

The storm brake exists because an overloaded engine misses healthchecks: healthy services
turn `unhealthy` together and restarting them adds load. Services whose checks fail quickly
and explicitly (a non-zero exit on a host under no pressure) are broken for real, however
many of them there are, and are repaired at full speed. So the brake needs evidence:

- a failing check that timed out (the engine's health log says "Health check exceeded
  timeout"): the check could not answer in time;
- the engine's time per repair action (the adaptive limit's smoothed cost) far above the best
  it has shown: the engine itself is slow;
- host CPU or IO pressure (Linux PSI, /proc/pressure) above a threshold when the storm's
  first service turned unhealthy: later, the repairs themselves add to it (fifty restarts at
  once keep two cores busy), and would brake the very repairs that raised it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# What the engine writes in a health log entry when a check ran out of time (moby's
# daemon/health.go: "Health check exceeded timeout (%v)").
TIMEOUT_OUTPUT = "Health check exceeded timeout"


class Evidence(StrEnum):
    CHECK_TIMEOUT = "check_timeout"
    SLOW_ENGINE = "slow_engine"
    CPU_PRESSURE = "cpu_pressure"
    IO_PRESSURE = "io_pressure"


@dataclass(frozen=True)
class OverloadPolicy:
    cpu_pressure: float = 50.0  # % of the last 10 s some task waited for a CPU (PSI cpu some)
    io_pressure: float = 30.0  # % of the last 10 s every task stalled on IO (PSI io full)
    slow_factor: float = 3.0  # engine cost above this many times its best: slow engine


@dataclass(frozen=True)
class Pressure:
    """PSI avg10 percentages; None where the kernel has no /proc/pressure (before 4.20, or
    booted without psi=1): that evidence is then never seen, and the others still count."""

    cpu_some: float | None = None
    io_full: float | None = None


@dataclass(frozen=True)
class Found:
    kind: Evidence
    detail: str


def parse_psi(text: str) -> dict[str, float]:
    """`some avg10=12.34 avg60=… total=…` lines → {"some": 12.34, "full": …}."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        for field in rest.split():
            name, _, value = field.partition("=")
            if name == "avg10":
                try:
                    out[kind] = float(value)
                except ValueError:
                    continue
    return out


def timed_out(outputs: Iterable[str]) -> bool:
    """Whether any of a container's recent health log outputs is a check that timed out."""
    return any(TIMEOUT_OUTPUT in (o or "") for o in outputs)


def from_pressure(policy: OverloadPolicy, p: Pressure) -> list[Found]:
    out = []
    if p.cpu_some is not None and p.cpu_some >= policy.cpu_pressure:
        limit = f"{policy.cpu_pressure:.0f}%"
        why = f"host CPU pressure {p.cpu_some:.0f}% as the storm began (PSI cpu some avg10"
        why += f" >= {limit})"
        out.append(Found(Evidence.CPU_PRESSURE, why))
    if p.io_full is not None and p.io_full >= policy.io_pressure:
        limit = f"{policy.io_pressure:.0f}%"
        why = f"host IO pressure {p.io_full:.0f}% as the storm began (PSI io full avg10"
        why += f" >= {limit})"
        out.append(Found(Evidence.IO_PRESSURE, why))
    return out


def from_engine(policy: OverloadPolicy, cost: float | None, best: float | None) -> list[Found]:
    """`cost`, `best`: the adaptive limit's smoothed and best seconds per engine action."""
    if cost is None or best is None or best <= 0 or cost < policy.slow_factor * best:
        return []
    why = f"engine {cost / best:.1f}x slower per action than its best ({cost:.2f}s vs {best:.2f}s)"
    return [Found(Evidence.SLOW_ENGINE, why)]


def from_checks(service: str, outputs: Iterable[str]) -> list[Found]:
    if not timed_out(outputs):
        return []
    return [Found(Evidence.CHECK_TIMEOUT, f"{service}'s healthcheck timed out")]


def describe(found: Iterable[Found]) -> str:
    return "; ".join(f.detail for f in found)
