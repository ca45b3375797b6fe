"""How long a repair may take, derived from the work, so no lock or mark it holds expires
while it still acts (a stop_start of three replicas with 60 s grace periods is 3 minutes)."""

from __future__ import annotations

from collections.abc import Iterable

from healer.core.model import Action

# Engine round trips (inspect, the call itself) beyond the stop grace and the verify wait,
# which already bound the slow parts. Kept small: the lease of a worker that died mid-repair
# blocks every other repair of the service until it runs out.
PER_CONTAINER_SLACK = 5.0
# Recording the outcome after the last container (history, counters, request record).
FINISH_SLACK = 5.0
DEFAULT_STOP_GRACE = 10


def stop_grace(configured: int | None, container_stop_timeout: int | str | None) -> int:
    """HEALER_STOP_TIMEOUT if set, else the container's own stop_grace_period, else 10 s."""
    if configured is not None:
        return configured
    try:
        return int(container_stop_timeout) if container_stop_timeout is not None else 10
    except (TypeError, ValueError):
        return DEFAULT_STOP_GRACE


def repair_budget(action: str, graces: Iterable[int], verify_timeout: float) -> float:
    """Seconds the repair of these containers (acted on one after the other) may take."""
    stops = action in (Action.RESTART, Action.STOP_START, Action.RECREATE)
    total = FINISH_SLACK
    for grace in graces:
        total += (grace if stops else 0) + verify_timeout + PER_CONTAINER_SLACK
    return total
