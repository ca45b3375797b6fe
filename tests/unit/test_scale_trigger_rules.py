"""The between-cycles scale trigger: fires only where the backlog alone needs more replicas."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from healer.core.model import ServiceId
from healer.core.scaling.policy import Observation, ScaleSpec, decide
from healer.core.scaling.trigger import Watch, needs_more, triggered

SID = ServiceId("p/worker")


def watch(replicas: int = 2, top: int = 4, target: float = 10.0) -> Watch:
    return Watch(SID, ("emails",), target, replicas, top)


def test_fires_above_the_replicas_targets_plus_tolerance_only() -> None:
    assert not needs_more(watch(2), 22)  # 2 x 10 x 1.1
    assert needs_more(watch(2), 23)
    assert needs_more(watch(0), 1), "no replica at all and work waiting"
    assert not needs_more(watch(0), 0)


def test_never_fires_at_the_ceiling() -> None:
    assert not needs_more(watch(4, top=4), 10_000)


def test_sums_the_backlog_of_every_queue_of_a_service() -> None:
    two = Watch(SID, ("a", "b"), 10.0, 1, 4)
    other = Watch(ServiceId("p/other"), ("c",), 10.0, 1, 4)
    assert triggered({two.sid: two, other.sid: other}, {"a": 6, "b": 6, "c": 3}) == [SID]
    assert triggered({two.sid: two}, {"a": 6}) == []


def test_round_trips_through_json_and_rejects_what_it_cannot_read() -> None:
    w = watch()
    assert Watch.from_json(SID, w.to_json()) == w
    assert Watch.from_json(SID, {"queues": ["q"]}) is None
    assert Watch.from_json(SID, {**w.to_json(), "target": "x"}) is None
    assert Watch.from_json(SID, {**w.to_json(), "target": 0}) is None
    assert Watch.from_json(SID, {**w.to_json(), "target": math.inf}) is None
    assert Watch.from_json(SID, {**w.to_json(), "queues": []}) is None


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 20), st.integers(1, 20), st.integers(0, 500), st.floats(1, 50))
def test_a_trigger_always_leads_to_a_scale_up_decision(
    replicas: int, top: int, backlog: int, target: float
) -> None:
    """The backlog is a lower bound of the load: where it fires, the cycle scales up."""
    replicas = min(replicas, top)
    if not needs_more(watch(replicas, top, target), backlog):
        return
    spec = ScaleSpec(min_replicas=0, max_replicas=top, metric="queue", target=target)
    decision = decide(spec, Observation(replicas, backlog), (), None, 0.0)
    assert decision.desired > replicas
