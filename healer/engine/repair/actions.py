"""Carrying out a repair action on a service's containers, once the guard said "act".

Built-ins act on each container and verify it runs again; `signal:<NAME>` goes through the
engine's kill API; any other name is a plugin strategy, run once for the service in a child
process with a time limit (healer.adapters.plugins.strategies). Whatever happens comes back
as errors and notes for the repair's record: nothing here raises past the repair task.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from healer.adapters.autoheal import webhook
from healer.adapters.docker.engine import EngineError
from healer.adapters.docker.recreate import NotReady, Recreator
from healer.adapters.outbound.delivery import redacted
from healer.adapters.plugins import strategies as plugins
from healer.core.actions import (
    BUILTIN_ACTIONS,
    BUILTIN_DESCRIPTIONS,
    SIGNAL_DESCRIPTION,
    SIGNAL_PATTERN,
    UnknownAction,
    normalize,
    signal_of,
)
from healer.core.container_state import ContainerState
from healer.core.labels import STOP_TIMEOUT_LABEL, parse_service_labels, stop_timeout_label
from healer.core.model import (
    Action,
    ContainerId,
    HostId,
    RepairRequest,
    ServiceId,
    ServiceView,
)
from healer.core.rollout.labels import RolloutLabels
from healer.core.rollout.start_first import Order, choose
from healer.core.selection.selector import is_plain
from healer.engine.context import Healer
from healer.engine.repair import limit as repair_limit
from healer.engine.rollout import waves
from healer.engine.rollout.drain import celery_drain

# Outcomes of a repair that did something (or gave up): what the post-repair hook reports.
HOOK_OUTCOMES = frozenset({"acted", "failed", "quarantined"})

# A recreate copies compose's configuration; a plain container's is whatever `docker run` got.
PLAIN_RECREATE = (
    "{sid} is a container started without compose: recreate needs compose "
    "(use restart, start or stop_start)"
)


@dataclass
class Done:
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# Reading entry point metadata scans sys.path (~10 ms): a repair should not pay for it on its
# way to act. A plugin installed later is seen within this many seconds.
_NAMES_TTL = 30.0
_names: tuple[float, frozenset[str]] = (float("-inf"), frozenset())


def plugin_names() -> frozenset[str]:
    """Installed plugin strategy names (metadata only, nothing imported), cached briefly."""
    global _names
    if time.monotonic() - _names[0] > _NAMES_TTL:
        _names = (time.monotonic(), plugins.available())
    return _names[1]


def is_plugin(action: str) -> bool:
    """A plugin strategy's action (not a built-in, not `signal:<NAME>`)."""
    return action not in BUILTIN_ACTIONS and signal_of(action) is None


def check(name: str) -> str:
    """The canonical action name, or UnknownAction naming every known one."""
    return normalize(name, plugin_names())


# The host registry's info field where each agent publishes its strategies (workers/host_agent).
STRATEGIES_FIELD = "strategies"


def published_strategies() -> str:
    """What an agent publishes with its heartbeat: its installed plugin names."""
    return ",".join(sorted(plugin_names()))


def _published_names(published: str) -> frozenset[str]:
    return frozenset(name for name in published.split(",") if name)


def cluster_strategies(h: Healer) -> frozenset[str]:
    """Plugin names installed here or published by any known host's agent: an action may
    name a strategy that only the service's host has."""
    names = set(plugin_names())
    for published in h.hosts.info_field(STRATEGIES_FIELD, h.hosts.heartbeats()).values():
        names.update(_published_names(published or ""))
    return frozenset(names)


def check_in_cluster(h: Healer, name: str) -> str:
    """The canonical action name if some host can run it, or UnknownAction naming the
    known ones; `check_on_host` then asks the service's own host. Built-ins, signals and
    local plugins need no Redis read."""
    try:
        return normalize(name, plugin_names())
    except UnknownAction:
        return normalize(name, cluster_strategies(h))


def check_on_host(h: Healer, host: HostId, action: str) -> None:
    """Raise UnknownAction when `action` is a plugin strategy the host's agent lacks: the
    repair runs there, not where the API or CLI happens to run. A host that publishes no
    list (an agent from before this check) is not second-guessed; its repair reports it."""
    if not is_plugin(action):
        return
    published = h.hosts.info_field(STRATEGIES_FIELD, [host])[host]
    if published is None:
        return
    there = _published_names(published)
    if action not in there:
        raise UnknownAction(action, there, f"not installed on host {host!r}")


def perform(
    h: Healer,
    req: RepairRequest,
    inspected: dict[ContainerId, ContainerState],
    attempt: int,
    rollout: RolloutLabels | None = None,
    keep: waves.Keep | None = None,
) -> Done:
    """`rollout`: the service's budget and recreate order; `keep` stretches the repair's
    lease as a rolling repair goes on (both default to a plain one-wave repair)."""
    try:
        action = normalize(req.action, plugin_names())
    except UnknownAction as exc:
        return Done([str(exc)])
    if action == Action.RECREATE and is_plain(req.sid):
        return Done([PLAIN_RECREATE.format(sid=req.sid)])
    done = Done()
    if signal_of(action):  # a signal takes no replica down: all at once
        for cid, info in inspected.items():
            _on_container(h, action, cid, info, done, Order.STOP_FIRST)
        return done
    if action in BUILTIN_ACTIONS:
        rollout = rollout or RolloutLabels()

        def act_one(cid: ContainerId, info: ContainerState) -> ContainerId | None:
            return _on_container(h, action, cid, info, done, rollout.order)

        # A planned repair (not a signal, not a start) drains a worker before it stops it.
        stops = action in (Action.RESTART, Action.STOP_START, Action.RECREATE)
        drain = celery_drain(h, next(iter(inspected.values()))) if stops and inspected else None
        done.errors += waves.run(
            h, req, inspected, rollout, act_one, keep or (lambda _: None), drain
        )
        return done
    return _plugin(h, req, inspected, attempt)


def _on_container(
    h: Healer, action: str, cid: ContainerId, info: ContainerState, done: Done, order: Order
) -> ContainerId | None:
    """The id now serving (a recreate's is new), or None when the action failed."""
    try:
        cid = _act(h, action, cid, info, done, order)
        after = h.engine.wait_running(cid, h.settings.verify_timeout)
        if not after.running:
            done.errors.append(f"{info.name} not running after {action}")
            return None
        return cid
    except (EngineError, NotReady) as exc:
        done.errors.append(f"{info.name}: {exc}")
        return None


def _act(
    h: Healer, action: str, cid: ContainerId, info: ContainerState, done: Done, order: Order
) -> ContainerId:
    """Do it; returns the id to verify (a recreated container has a new one)."""
    timeout = _stop_timeout(h, info)
    running = info.running
    sig = signal_of(action)
    # Each engine call is timed for the adaptive concurrency limit (engine/repair/limit.py);
    # a call that used its stop grace says nothing about the engine's speed.
    if sig is not None:
        with repair_limit.timed_action(h):
            h.engine.kill(cid, sig)
        done.notes.append(f"{info.name}: sent SIG{sig}")
    elif action == Action.RECREATE:
        recreator = Recreator(
            h.engine, before_stop=lambda c: h.state.mark_acting([c], h.settings.lock_ttl)
        )
        # A recreate copies the whole configuration as it is now: the repair's own read may
        # have come from the list call (reread.observe), which carries only what it decides by.
        original = recreator.read(cid)
        choice = choose(order, original.state)
        if choice.why:
            done.notes.append(f"{info.name}: {choice.why}")
        ready = None
        if choice.order == Order.START_FIRST:
            ready = lambda new: waves.wait_available(h, new, original.state)  # noqa: E731
        # A start-first recreate waits for health inside: that time is the container's, so
        # the limit counts it as a completion and does not measure the engine by it.
        with repair_limit.timed_action(h, grace=0.0 if ready else timeout):
            result = recreator.recreate(original, timeout, ready=ready)
        done.notes += result.notes
        done.errors += result.errors
        return result.new_id
    elif action == Action.START or (action == Action.RESTART and not running):
        # Restarting a stopped container is a start; say so instead of failing.
        with repair_limit.timed_action(h):
            h.engine.start(cid)
    elif action == Action.STOP_START:
        with repair_limit.timed_action(h, grace=timeout):
            h.engine.stop(cid, timeout)
        with repair_limit.timed_action(h):
            h.engine.start(cid)
    else:
        with repair_limit.timed_action(h, grace=timeout):
            h.engine.restart(cid, timeout)
    return cid


def _stop_timeout(h: Healer, info: ContainerState) -> int:
    """docker-autoheal's label, then HEALER_STOP_TIMEOUT (AUTOHEAL_DEFAULT_STOP_TIMEOUT),
    then the container's own stop grace period, then the engine's 10 s."""
    labelled = stop_timeout_label(info.labels.get(STOP_TIMEOUT_LABEL))
    if labelled is not None:
        return labelled
    if h.settings.stop_timeout is not None:
        return h.settings.stop_timeout
    return info.stop_timeout if info.stop_timeout is not None else 10


def _plugin(
    h: Healer, req: RepairRequest, inspected: dict[ContainerId, ContainerState], attempt: int
) -> Done:
    run = plugins.RunRequest(
        action=req.action,
        service=str(req.sid),
        container_ids=[str(c) for c in inspected],
        condition=req.condition.value,
        detail=req.detail,
        attempt=attempt,
        docker_host=h.settings.docker_host,
    )
    started = time.monotonic()
    try:
        plugins.run(run, h.settings.strategy_time_limit)
    except plugins.PluginFailed as exc:
        return Done([str(exc)])
    return Done([], [f"strategy {req.action} returned after {time.monotonic() - started:.1f}s"])


def post_repair(
    h: Healer, req: RepairRequest, outcome: str, reason: str, detail: str, attempt: int
) -> None:
    """The post-repair hook (HEALER_POST_REPAIR_WEBHOOK): what was done and how it ended;
    and docker-autoheal's WEBHOOK_URL, one line of text, for repairs that acted or failed."""
    hook = h.settings.webhook_url
    if hook and outcome in ("acted", "failed"):
        target = webhook.target(str(req.sid), [str(c) for c in req.container_ids])
        text = webhook.message(target, req.condition.value, str(req.action), outcome == "acted")
        key = h.settings.webhook_json_key
        h.notifier.courier.submit(
            f"autoheal webhook {redacted(hook)}", lambda: webhook.post(hook, key, text)
        )
    url = h.settings.post_repair_webhook
    if not url or outcome not in HOOK_OUTCOMES:
        return
    h.notifier.post_outcome(
        url,
        {
            "service": str(req.sid),
            "condition": req.condition.value,
            "action": str(req.action),
            "outcome": outcome,
            "success": outcome == "acted",
            "reason": reason,
            "detail": detail,
            "attempt": attempt,
            "source": req.source,
            "request_id": req.request_id,
            "container_ids": [str(c) for c in req.container_ids],
            "finished_at": time.time(),
        },
    )


@dataclass(frozen=True)
class Strategy:
    """One row of `healer strategies`."""

    name: str
    origin: str  # "built-in" or the distribution and entry point of a plugin
    description: str
    error: str = ""  # a plugin that cannot be used, and why


def catalog(load: bool = True) -> list[Strategy]:
    """Built-ins first, then every installed plugin (imported with `load`, so broken ones
    show with their error)."""
    rows = [Strategy(n, "built-in", BUILTIN_DESCRIPTIONS[n]) for n in BUILTIN_ACTIONS]
    rows.append(Strategy(SIGNAL_PATTERN, "built-in", SIGNAL_DESCRIPTION))
    for p in plugins.discover(load=load):
        origin = f"plugin {p.origin} ({plugins.GROUP}: {p.value})"
        rows.append(Strategy(p.name, origin, "" if p.error else "plugin strategy", p.error))
    return rows


def plugin_problems() -> list[str]:
    """Installed plugins that cannot be used (imported to find out), for `healer check`."""
    rows = [r for r in catalog() if r.origin != "built-in"]
    return [f"strategy {r.name} ({r.origin}): {r.error}" for r in rows if r.error]


def label_notes(services: Mapping[ServiceId, ServiceView], own: Collection[str] = ()) -> list[str]:
    """Label problems checked against the plugins installed here (`healer status` can only
    check a plugin name's form); `own`: the selector's label keys, never a problem."""
    names = plugin_names()
    return [
        f"{sid}: {problem}"
        for sid, view in services.items()
        for problem in parse_service_labels(view.labels, names, own).problems
    ]
