"""The repair-storm brake, decided purely.

When the engine is too loaded to answer healthchecks in time, many healthy services turn
`unhealthy` at once; restarting them all adds load and deepens the storm. Kubernetes' node
lifecycle controller meets the same failure by slowing evictions once more than 55 % of a
zone is unhealthy (`--unhealthy-zone-threshold`). Here: when at least `share` of a host's
managed services (and at least `min_services` of them) were seen unhealthy within `window`
seconds, unhealthy-repairs on that host go at a trickle of one per `interval` seconds.
Exited and crashed containers are not braked: starting a stopped container adds no load
that a healthcheck timeout could have caused.
"""

from __future__ import annotations

from dataclasses import dataclass

from healer.core.model import Condition

# Only this condition is braked: it is the one an overloaded engine produces by itself.
BRAKED_CONDITIONS = frozenset({Condition.UNHEALTHY})
# The healer's own observations; an operator's or an alert's request is never braked.
BRAKED_SOURCES = frozenset({"probe", "event"})


@dataclass(frozen=True)
class StormPolicy:
    share: float = 0.55
    min_services: int = 4
    window: float = 120.0
    interval: float = 30.0


@dataclass(frozen=True)
class StormVerdict:
    braked: bool
    unhealthy: int
    managed: int

    @property
    def share(self) -> float:
        return self.unhealthy / self.managed if self.managed else 0.0

    def explain(self, policy: StormPolicy) -> str:
        return (
            f"{self.unhealthy} of {self.managed} managed services ({self.share:.0%}) seen "
            f"unhealthy within {policy.window:.0f}s, at or above {policy.share:.0%}: "
            f"unhealthy repairs slowed to one per {policy.interval:.0f}s (repair-storm brake)"
        )


def applies(condition: Condition, source: str) -> bool:
    return condition in BRAKED_CONDITIONS and source in BRAKED_SOURCES


def assess(policy: StormPolicy, unhealthy: int, managed: int) -> StormVerdict:
    """`unhealthy`: distinct services seen unhealthy within the window; `managed`: the host's
    managed services (never fewer than the unhealthy ones, whatever a stale count says)."""
    managed = max(managed, unhealthy)
    braked = (
        unhealthy >= policy.min_services and managed > 0 and unhealthy / managed >= policy.share
    )
    return StormVerdict(braked, unhealthy, managed)
