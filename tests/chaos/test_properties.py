"""Property tests: the Alertmanager payload parser, the label parsers, and a state machine
of the guard against the real Redis (the tests' db).

Whatever they are fed, the parsers answer with a value or a clear validation error (never
another exception), and the guard never grants more than max_attempts repairs per episode,
never acts while quarantined, and keeps the kubelet-style spacing between repairs.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pydantic import ValidationError

from healer.adapters.store import guard, keys
from healer.core.alerts import Webhook, decide, describe_errors
from healer.core.labels import parse_service_labels
from healer.core.model import Condition, HostId, ServiceId
from healer.core.repair.backoff import RestartPolicy, Verdict, required_wait
from healer.core.scaling.labels import parse_scale_labels

# --- the Alertmanager payload parser -------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
label_text = st.text(max_size=30)
timestamps = st.sampled_from(["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123+02:00", "x", ""])
alerts = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved", "weird"]),
        "labels": st.dictionaries(
            st.sampled_from(["alertname", "service", "action", "auto_repair", "container", "x"]),
            label_text | st.sampled_from(["true", "restart", "scale_up", "cleanup", "host"]),
            max_size=6,
        ),
        "startsAt": timestamps,
    },
    optional={
        "annotations": st.dictionaries(label_text, label_text, max_size=3),
        "fingerprint": label_text,
    },
)
webhooks = st.fixed_dictionaries(
    {"version": st.sampled_from(["4", "3", 4]), "status": st.sampled_from(["firing", "resolved"])},
    optional={"alerts": st.lists(alerts | json_values, max_size=4), "truncatedAlerts": json_values},
)


@settings(max_examples=400, deadline=None)
@given(webhooks | json_values)
def test_the_webhook_parser_answers_a_value_or_a_validation_error(body: Any) -> None:
    try:
        hook = Webhook.model_validate(body)
    except ValidationError as exc:
        assert all(isinstance(line, str) and line for line in describe_errors(exc))
        return
    for alert in hook.alerts:
        d = decide(alert)
        assert d.act == (d.reason == "")
        assert not d.act or d.action is not None
        assert d.act or d.reason  # an ignored alert always says why
        # The dedupe key is stable: the same alert re-sent is the same key.
        assert (
            alert.dedupe_key
            == Webhook.model_validate(json.loads(hook.model_dump_json()))
            .alerts[hook.alerts.index(alert)]
            .dedupe_key
        )


# --- the label parsers ---------------------------------------------------------------------

label_keys = st.sampled_from(
    [
        "auto_repair",
        "healer.unhealthy.cooldown",
        "healer.exited.max_attempts",
        "healer.memory.cooldown",
        "healer.bogus.cooldown",
        "healer.scale.min",
        "healer.scale.max",
        "healer.scale.metric",
        "healer.scale.target",
        "healer.scale.window",
        "healer.scale.queues",
        "healer.scale.shared_storage",
        "healer.role",
        "healer.scale.nope",
    ]
)
label_values = st.text(max_size=12) | st.sampled_from(
    ["0", "-1", "1e308", "nan", "inf", "5m", "3", "true", "false", "queue", "cpu", "99999999999"]
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(label_keys, label_values, max_size=8), st.integers(1, 50))
def test_label_parsers_never_raise_and_keep_bounds_sane(labels: dict[str, str], cap: int) -> None:
    parsed = parse_service_labels(labels)
    for cond in Condition:
        assert parsed.cooldown(cond, 300) >= 0
        assert parsed.max_attempts(cond, 3) >= 1
    cfg = parse_scale_labels(labels, min_replicas=1, max_replicas=min(5, cap), cap=cap)
    assert 0 <= cfg.spec.min_replicas <= cfg.spec.max_replicas <= cap
    if cfg.spec.min_replicas == 0:  # zero only with a metric that can wake the service
        assert any(m.metric in ("queue", "prometheus") for m in cfg.metrics)
    assert all(isinstance(p, str) and p for p in cfg.problems)


# --- a state machine of the guard --------------------------------------------------------------

HOST = HostId("node-a")
POLICY = RestartPolicy(cooldown=10, max_attempts=3, backoff_max=40, reset_after=600)


class GuardMachine(RuleBasedStateMachine):
    """Claims by new and redelivered requests, clock steps and operator resets, checked
    against a model of what the guard may grant."""

    def __init__(self, r: redis.Redis) -> None:
        super().__init__()
        self.r = r
        self.sid = ServiceId(f"prop/{uuid.uuid4().hex[:8]}")
        self.cond = Condition.UNHEALTHY
        self.now = 1_000_000.0
        self.granted: list[tuple[str, float]] = []  # (request, time) per ACT of this episode
        self.quarantined = False
        self.last_request = ""

    @initialize()
    def clean(self) -> None:
        guard.reset(self.r, HOST, self.sid)

    @rule(seconds=st.floats(0, 100))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def new_request(self) -> None:
        request = uuid.uuid4().hex
        d = guard.claim(
            self.r, HOST, self.sid, self.cond, POLICY, self.now, request_id=request, ttl=3600
        )
        if d.verdict == Verdict.ACT:
            assert not self.quarantined, "acted while quarantined"
            if self.granted:
                wait = required_wait(POLICY, len(self.granted))
                assert self.now >= self.granted[-1][1] + wait - 1e-6, "spacing broken"
            self.granted.append((request, self.now))
            self.last_request = request
        elif d.verdict == Verdict.QUARANTINE:
            assert len(self.granted) == POLICY.max_attempts
            self.quarantined = True
        elif d.verdict == Verdict.QUARANTINED:
            assert self.quarantined

    @precondition(lambda self: bool(self.last_request))
    @rule()
    def redelivered_request(self) -> None:
        d = guard.claim(
            self.r,
            HOST,
            self.sid,
            self.cond,
            POLICY,
            self.now,
            request_id=self.last_request,
            ttl=3600,
        )
        # A redelivery re-uses its own slot: it never adds an attempt.
        before = len(self.granted)
        assert guard.read_episode(self.r, HOST, self.sid, self.cond).attempts == before
        assume(d.verdict is not None)

    @rule()
    def operator_reset(self) -> None:
        guard.reset(self.r, HOST, self.sid)
        self.granted.clear()
        self.quarantined = False
        self.last_request = ""

    @invariant()
    def never_past_the_budget(self) -> None:
        assert len(self.granted) <= POLICY.max_attempts
        episode = guard.read_episode(self.r, HOST, self.sid, self.cond)
        assert episode.attempts == len(self.granted)
        if self.r.exists(keys.episode(HOST, self.sid, self.cond)):
            assert 0 < self.r.ttl(keys.episode(HOST, self.sid, self.cond)) <= 3600

    def teardown(self) -> None:
        guard.reset(self.r, HOST, self.sid)


def test_the_guard_state_machine(redis_client: redis.Redis) -> None:
    run_state_machine_as_test(  # type: ignore[no-untyped-call]  # hypothesis leaves it untyped
        lambda: GuardMachine(redis_client),
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
