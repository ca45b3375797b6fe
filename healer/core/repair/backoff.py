"""The restart policy (docs/architecture.md, "Restart policy"), as pure functions of
(policy, episode state, now).

An episode is a run of repairs with no `reset_after` of good health between them. Repair 1
acts at once; repair k ≥ 2 waits min(cooldown × 2^(k-2), backoff_max) after repair k-1;
once `max_attempts` repairs are spent the next failure quarantines the service.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RestartPolicy:
    cooldown: float
    max_attempts: int
    backoff_max: float
    reset_after: float
    quarantines: bool = True  # operator-requested repairs never quarantine


@dataclass(frozen=True)
class Episode:
    attempts: int = 0
    last_repair_at: float | None = None
    started_at: float | None = None
    quarantined_at: float | None = None
    last_request: str = ""

    @property
    def quarantined(self) -> bool:
        return self.quarantined_at is not None


class Verdict(enum.StrEnum):
    ACT = "act"
    WAIT = "wait"
    QUARANTINE = "quarantine"
    QUARANTINED = "quarantined"
    # This request already claimed its slot: an earlier delivery was lost mid-repair. It may
    # have acted already (the worker may even have restarted itself), so it must not act again.
    REDELIVERED = "redelivered"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    episode: Episode  # the state to store if the verdict is applied
    retry_after: float = 0.0
    reason: str = ""


def required_wait(policy: RestartPolicy, attempts_done: int) -> float:
    """Seconds repair number attempts_done+1 must wait after the previous one."""
    if attempts_done <= 0:
        return 0.0
    # Cap the exponent too: 2**k overflows float long before anyone reaches it.
    doubled = policy.cooldown * 2.0 ** min(attempts_done - 1, 62)
    return min(doubled, policy.backoff_max)


def decide(policy: RestartPolicy, episode: Episode, now: float, request_id: str = "") -> Decision:
    """Whether a repair may act now, and the episode state that acting would leave."""
    if request_id and request_id == episode.last_request:
        # The same request retried after a lost worker: its slot is already claimed, and the
        # lost delivery may have acted. Acting again would make a worker that restarts its own
        # container do so forever (each restart redelivers the request): at most once.
        return Decision(
            Verdict.REDELIVERED,
            episode,
            reason="redelivered request: its slot was claimed by a delivery that was lost",
        )
    if episode.quarantined and policy.quarantines:
        return Decision(Verdict.QUARANTINED, episode, reason="quarantined until reset")
    if policy.quarantines and episode.attempts >= policy.max_attempts:
        q = replace(episode, quarantined_at=now)
        return Decision(
            Verdict.QUARANTINE,
            q,
            reason=f"{episode.attempts} repairs in this episode reached max_attempts "
            f"{policy.max_attempts}",
        )
    wait = required_wait(policy, episode.attempts)
    if episode.last_repair_at is not None and now < episode.last_repair_at + wait:
        left = episode.last_repair_at + wait - now
        kind = "cooldown" if episode.attempts <= 1 else "backoff"
        return Decision(
            Verdict.WAIT,
            episode,
            retry_after=left,
            reason=f"{kind}: repair {episode.attempts + 1} waits {wait:.0f}s, {left:.0f}s left",
        )
    acted = Episode(
        attempts=episode.attempts + 1,
        last_repair_at=now,
        started_at=episode.started_at if episode.started_at is not None else now,
        quarantined_at=None,
        last_request=request_id,
    )
    return Decision(Verdict.ACT, acted, reason=f"repair {acted.attempts} of {policy.max_attempts}")


def cooldown_remaining(policy: RestartPolicy, episode: Episode, now: float) -> float:
    if episode.last_repair_at is None:
        return 0.0
    return max(0.0, episode.last_repair_at + required_wait(policy, episode.attempts) - now)


def episode_over(policy: RestartPolicy, healthy_since: float | None, now: float) -> bool:
    """Good health for `reset_after` ends the episode and lifts a quarantine."""
    return healthy_since is not None and now - healthy_since >= policy.reset_after
