"""Per-service controls in the planner: a switched-off condition, keep_trying, `created`."""

from __future__ import annotations

from healer.core.labels import parse_service_labels
from healer.core.model import Condition, ContainerId, ContainerView, ServiceId, ServiceView
from healer.core.reconcile import PolicyDefaults
from healer.core.repair.backoff import Episode, Verdict, decide
from healer.core.repair.conditions import DetectContext, detect, still_failing
from healer.core.resources import DEFAULT_RULES, service_rules

DEFAULTS = PolicyDefaults(
    reset_after=600,
    backoff_max=60,
    restarting_grace=60,
    crashloop_restarts=5,
    respect_manual_stop=False,
    episode_ttl=86400,
    condition_defaults={c: (10.0, 2) for c in Condition},
)


def _view(state: str, created: float = 0.0) -> ServiceView:
    c = ContainerView(
        ContainerId("c1"), "shop-web-1", "shop", "web", 1, state, None, None, created=created
    )
    return ServiceView(ServiceId("shop/web"), (c,))


def test_keep_trying_never_quarantines_and_waits_at_the_backoff_cap() -> None:
    labels = parse_service_labels({"healer.exited.on_exhausted": "keep_trying"})
    policy = DEFAULTS.restart_policy(labels, Condition.EXITED)
    episode = Episode(attempts=20, last_repair_at=1000.0, started_at=0.0)
    wait = decide(policy, episode, 1030.0)
    assert wait.verdict == Verdict.WAIT and round(wait.retry_after) == 30  # the 60 s cap
    assert decide(policy, episode, 1060.0).verdict == Verdict.ACT


def test_quarantine_stays_the_default() -> None:
    policy = DEFAULTS.restart_policy(parse_service_labels({}), Condition.EXITED)
    episode = Episode(attempts=2, last_repair_at=1000.0, started_at=0.0)
    assert decide(policy, episode, 5000.0).verdict == Verdict.QUARANTINE


def test_a_container_stuck_in_created_is_an_exited_finding_after_the_grace() -> None:
    ctx = DetectContext(now=1000.0, restarting_grace=60, crashloop_restarts=5)
    assert detect(_view("created", created=990.0), ctx) == []  # compose may still start it
    found = detect(_view("created", created=900.0), ctx)
    assert [(f.condition, f.action) for f in found] == [(Condition.EXITED, "start")]
    assert "never started" in found[0].detail
    assert still_failing(Condition.EXITED, "created", None, False)
    assert not still_failing(Condition.EXITED, "running", None, False)


def test_service_rules_follow_the_labels() -> None:
    labels = parse_service_labels({"healer.memory.window": "20s", "healer.cpu.enabled": "false"})
    rules = {r.condition: r for r in service_rules(DEFAULT_RULES, labels)}
    assert set(rules) == {Condition.MEMORY, Condition.NETWORK}
    assert rules[Condition.MEMORY].window == 20
    assert rules[Condition.MEMORY].threshold == 0.9
