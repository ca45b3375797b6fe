"""What a probe saw besides Docker (from Redis) and what it will write back: plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from healer.core.model import Condition, ContainerId, ServiceId
from healer.core.repair.backoff import Episode


@dataclass(frozen=True)
class Snapshot:
    """Everything the pure policy needs from Redis for a set of services."""

    paused_all: bool = False
    paused: frozenset[ServiceId] = frozenset()
    manual_stops: frozenset[ContainerId] = frozenset()
    restarting_since: Mapping[ContainerId, float] = field(default_factory=dict)
    recent_dies: Mapping[ServiceId, int] = field(default_factory=dict)
    healthy_since: Mapping[ServiceId, float] = field(default_factory=dict)
    episodes: Mapping[tuple[ServiceId, Condition], Episode] = field(default_factory=dict)
    was_down: frozenset[ServiceId] = frozenset()
    booting: frozenset[str] = frozenset()  # projects an ordered recovery is bringing back

    def is_booting(self, sid: ServiceId) -> bool:
        return sid.partition("/")[0] in self.booting

    def is_paused(self, sid: ServiceId) -> bool:
        return self.paused_all or sid in self.paused

    def quarantined(self, sid: ServiceId) -> bool:
        return any(e.quarantined for (s, _), e in self.episodes.items() if s == sid)

    def attempts(self, sid: ServiceId) -> int:
        return sum(e.attempts for (s, _), e in self.episodes.items() if s == sid)


@dataclass
class ProbeEffects:
    """What a probe cycle writes back, gathered first and applied in one pipeline."""

    healthy_ttl: int
    episode_ttl: int
    restarting_seen: dict[ContainerId, float] = field(default_factory=dict)
    restarting_cleared: list[ContainerId] = field(default_factory=list)
    healthy_seen: dict[ServiceId, float] = field(default_factory=dict)
    healthy_cleared: list[ServiceId] = field(default_factory=list)
    refresh_episodes: list[tuple[ServiceId, Condition]] = field(default_factory=list)
    reset_services: list[ServiceId] = field(default_factory=list)
    snapshots: dict[ServiceId, dict[str, object]] = field(default_factory=dict)
    down_seen: list[ServiceId] = field(default_factory=list)
    down_cleared: list[ServiceId] = field(default_factory=list)
