"""`healer`: the operator's command line. It talks to Redis and Docker directly and enqueues
repairs through Celery, so they show in Flower like any other."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

import redis
import typer
from pydantic import ValidationError

from healer.adapters.docker.engine import DockerEngine, EngineError
from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.adapters.store.connection import ping as redis_ping
from healer.adapters.store.connection import target as redis_target
from healer.adapters.store.history import Record
from healer.core.actions import UnknownAction
from healer.core.hosts import ServiceRef
from healer.core.labels import parse_duration
from healer.core.model import Action, HostId, Outcome, Source
from healer.engine.context import Healer, build
from healer.engine.repair import actions
from healer.engine.repair.manual import enqueue_manual
from healer.engine.status import (
    AmbiguousService,
    HostDown,
    UnknownService,
    hosts,
    recoveries,
    require_live,
    resolve,
    status,
)
from healer.settings import Settings

run_log = logging.getLogger("healer.run")

app = typer.Typer(
    help="Self-healing and autoscaling for Docker Compose stacks.",
    no_args_is_help=True,
    add_completion=False,
)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise fail("invalid settings:\n" + "\n".join(lines), 2) from exc


def healer() -> Healer:
    s = settings()
    return build(s, CeleryDispatcher(make_celery(s), s.host_id))


def service_arg(h: Healer, name: str, live: bool = False) -> ServiceRef:
    """SERVICE is `service`, `project/service` or `host/project/service`; `live` also
    refuses a service whose host is down (nothing would act on it)."""
    try:
        ref = resolve(h, name)
        if live:
            require_live(h, ref)
    except (UnknownService, AmbiguousService, HostDown) as exc:
        raise fail(str(exc)) from exc
    return ref


@app.command("status")
def status_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Each managed service: containers, state, health, attempts, cooldown, flags."""
    h = healer()
    data = status(h)
    host_data = hosts(h)
    boots = recoveries(h)
    redis_info = {"master": h.stores.master(), "url": h.settings.redis_url_redacted}
    if as_json:
        payload = {"services": data, "hosts": host_data, "recoveries": boots, "redis": redis_info}
        typer.echo(json.dumps(payload, indent=2, default=str))
        return
    typer.echo(f"redis master: {redis_info['master']} ({redis_info['url']})")
    _print_recoveries(boots)
    if h.flags.paused_all():
        typer.secho("healer is PAUSED for every service (healer resume)", fg=typer.colors.YELLOW)
    for name, info in host_data.items():
        if info["status"] != "up":
            typer.secho(
                f"host {name}: HOST_DOWN (no heartbeat for {info['heartbeat_age']:.0f}s)",
                fg=typer.colors.RED,
            )
    if not data:
        typer.echo("no managed compose services found")
    typer.echo(
        f"{'HOST':16} {'SERVICE':32} {'STATUS':12} {'CONTAINERS':24} {'ATTEMPTS':8} COOLDOWN"
    )
    for sid, snap in data.items():
        containers = snap["containers"]
        assert isinstance(containers, list)
        states = ",".join(
            f"{c['state']}" + (f"/{c['health']}" if c.get("health") else "") for c in containers
        )
        cd = snap["cooldown_remaining"]
        assert isinstance(cd, dict)
        left = max(cd.values(), default=0.0)
        status_text = "host_down" if snap.get("host_status") == "host_down" else snap["status"]
        typer.echo(
            f"{snap.get('host', '')!s:16} {sid:32} {status_text!s:12} {states:24} "
            f"{snap['attempts']!s:8} {f'{left:.0f}s' if left else '-'}"
        )
        scale = snap.get("scale")
        if isinstance(scale, dict):
            typer.echo(f"    scale: {scale.get('reason', '')}")
        problems = snap.get("problems") or []
        assert isinstance(problems, list)
        for p in problems:
            typer.secho(f"    ! {p}", fg=typer.colors.YELLOW)


def _print_recoveries(boots: dict[str, dict[str, Any]]) -> None:
    """Recoveries after an engine restart: the running ones in full, the last ones briefly."""
    for project, b in boots.items():
        if b.get("state") != "running":
            typer.echo(f"last ordered recovery of {project}: {b['state']} in {b['elapsed']}s")
            continue
        started = ", ".join(b.get("started") or []) or "-"
        typer.secho(
            f"RECOVERING {project} after an engine restart ({b['elapsed']}s so far); "
            f"started: {started}",
            fg=typer.colors.YELLOW,
        )
        for sid, w in (b.get("waiting") or {}).items():
            typer.echo(f"    {sid} waits for {w['for']} ({w['condition']}) since {w['seconds']}s")
        for sid in b.get("held") or []:
            typer.echo(f"    {sid} held down until its dependencies are ready")


@app.command()
def repair(
    service: str,
    action: Annotated[
        str,
        typer.Option(help="restart | start | stop_start | recreate | signal:NAME | a plugin's"),
    ] = Action.RESTART.value,
    wait: Annotated[bool, typer.Option(help="Wait for the outcome and print it.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 120,
) -> None:
    """Repair SERVICE now, through the same guard (lock, cooldown) as automatic repairs."""
    h = healer()
    try:
        action = actions.check_in_cluster(h, action)
    except UnknownAction as exc:
        raise fail(f"--action: {exc}", 2) from exc
    ref = service_arg(h, service, live=True)
    try:
        actions.check_on_host(h, ref.host, action)
    except UnknownAction as exc:
        raise fail(f"--action: {exc}", 2) from exc
    out = enqueue_manual(h, ref, action, "requested via cli", Source.CLI)
    typer.echo(f"queued {action} of {ref} as task {out['task_id']}")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = h.requests.get(out["task_id"])
        if data.get("status") == "done":
            typer.echo(f"{data['outcome']}: {data.get('reason', '')} {data.get('detail', '')}")
            raise typer.Exit(0 if data["outcome"] in (Outcome.ACTED, Outcome.SKIPPED) else 1)
        time.sleep(0.2)
    raise fail(f"no outcome within {timeout:.0f}s — is a worker running? (healer check)")


def _since(text: str) -> float:
    try:
        return time.time() - parse_duration(text)
    except ValueError as exc:
        raise fail(f"--since {text!r}: use e.g. 30m, 24h, 7d") from exc


@app.command()
def history(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    since: Annotated[str, typer.Option(help="How far back, e.g. 30m, 24h, 7d.")] = "24h",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: int = 200,
    host: Annotated[str | None, typer.Option(help="Only this Docker host.")] = None,
) -> None:
    """Every decision: acted, skipped (and why), failed, quarantined (with its host)."""
    h = healer()
    recs = h.history.query(service=service, since=_since(since), limit=limit, host=host)
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in recs], indent=2))
        return
    for r in reversed(recs):
        typer.echo(r.line())


@app.command()
def report(since: Annotated[str, typer.Option(help="Window, e.g. 24h.")] = "24h") -> None:
    """Summary of the window: repairs per service and outcome, skips by reason."""
    h = healer()
    recs = h.history.query(since=_since(since), limit=100_000)
    outcomes = Counter((f"{r.host}/{r.sid}" if r.host else r.sid, r.outcome) for r in recs)
    reasons = Counter(r.reason for r in recs if r.outcome == Outcome.SKIPPED)
    typer.echo(f"decisions in the last {since}: {len(recs)}")
    for (sid, outcome), n in sorted(outcomes.items()):
        typer.echo(f"  {sid:48} {outcome:12} {n}")
    if reasons:
        typer.echo("skips by reason:")
        for reason, n in reasons.most_common():
            typer.echo(f"  {reason:24} {n}")


@app.command()
def pause(service: Annotated[str | None, typer.Argument()] = None) -> None:
    """Stop acting on SERVICE (or on everything); it is still observed and reported."""
    h = healer()
    if service is None:
        h.flags.pause()
        typer.echo("paused: every service")
        return
    ref = service_arg(h, service)
    h.stores.on(ref.host).flags.pause(ref.sid)
    rec = Record(sid=ref.sid, outcome=Outcome.PAUSED, source=Source.CLI, host=ref.host)
    h.history.record(rec)
    typer.echo(f"paused: {ref}")


@app.command()
def resume(service: Annotated[str | None, typer.Argument()] = None) -> None:
    """Undo `healer pause`."""
    h = healer()
    if service is None:
        h.flags.resume()
        _probe_now(h, None)
        typer.echo("resumed: every service")
        return
    ref = service_arg(h, service)
    h.stores.on(ref.host).flags.resume(ref.sid)
    rec = Record(sid=ref.sid, outcome=Outcome.RESUMED, source=Source.CLI, host=ref.host)
    h.history.record(rec)
    _probe_now(h, ref)
    typer.echo(f"resumed: {ref}")


@app.command()
def reset(service: str) -> None:
    """End SERVICE's episodes: attempts to zero, quarantine lifted."""
    h = healer()
    ref = service_arg(h, service)
    removed = h.stores.on(ref.host).guard.reset(ref.sid)
    h.history.record(
        Record(
            sid=ref.sid,
            outcome=Outcome.RESET,
            reason="healer reset",
            source=Source.CLI,
            host=ref.host,
        )
    )
    _probe_now(h, ref)
    typer.echo(f"reset: {ref} ({removed} state keys cleared)")


def _probe_now(h: Healer, ref: ServiceRef | None) -> None:
    """Act on the new state at once instead of at the next reconcile (on every live host)."""
    if ref is None:
        for host in h.hosts.live() or [h.host]:
            h.dispatcher.probe_all(host)
    else:
        h.dispatcher.probe(ref.sid, host=ref.host)


@app.command()
def scale(
    service: str,
    replicas: int,
    force: Annotated[bool, typer.Option(help="Go past the service's min/max replicas.")] = False,
) -> None:
    """Scale SERVICE to N replicas now (compose-style <project>-<service>-<n>)."""
    from healer.engine.scaling.cycle import ScaleError, scale_to

    h = healer()
    ref = service_arg(h, service, live=True)
    if ref.host != h.host:
        raise typer.Exit(_scale_remote(h, ref, replicas, force))
    try:
        result = scale_to(h, ref.sid, replicas, force, source=Source.CLI)
    except ScaleError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"{result.outcome}: {ref} {result.current} -> {result.desired}. {result.detail}")
    raise typer.Exit(0 if result.outcome in (Outcome.SCALED, Outcome.HELD) else 1)


def _scale_remote(h: Healer, ref: ServiceRef, replicas: int, force: bool) -> int:
    """Another host's engine is its agent's to change: ask it and wait for the answer."""
    task_id = uuid.uuid4().hex
    h.dispatcher.scale(ref.sid, replicas, Source.CLI, task_id, host=ref.host, force=force)
    assert isinstance(h.dispatcher, CeleryDispatcher)
    wait = h.settings.scale_start_timeout + h.settings.scale_drain_timeout
    out = h.dispatcher.scale_result(task_id, timeout=wait)
    if out.get("outcome") == Outcome.REFUSED:
        raise fail(str(out.get("reason")))
    typer.echo(f"{out.get('outcome')}: {ref} {out.get('current')} -> {out.get('desired')}")
    return 0 if out.get("outcome") in (Outcome.SCALED, Outcome.HELD) else 1


@app.command()
def cleanup(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")] = False,
) -> None:
    """The disk repair now: dangling images, build cache, loose stopped containers, old logs.

    Never a volume, never a compose container, never a running container."""
    from healer.engine.disk import check_disk

    h = healer()
    result = check_disk(h, source=Source.CLI, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{result.path}: {result.used_ratio:.1%} used")
    for item in result.removed:
        typer.echo(f"  {verb} {item}")
    typer.echo(
        f"{verb} {len(result.removed)} items, {result.bytes_freed} bytes"
        + (" (estimated)" if dry_run else " freed")
    )
    for err in result.errors:
        typer.secho(f"  error: {err}", fg=typer.colors.RED, err=True)
    if result.outcome == Outcome.SKIPPED:
        typer.echo(f"skipped: {result.reason}")
    raise typer.Exit(1 if result.errors else 0)


@app.command()
def check() -> None:
    """Verify settings, Redis and Docker; say exactly what is wrong."""
    s = settings()
    problems: list[str] = []
    typer.echo(
        f"settings: ok (host: {s.host}, projects: {s.projects or 'all'}, "
        f"interval {s.watchdog_interval}s)"
    )
    if not s.api_token:
        typer.secho(
            "  note: HEALER_API_TOKEN is unset; POST /repair and /alerts answer 403",
            fg=typer.colors.YELLOW,
        )
    try:
        redis_ping(redis_target(s), timeout=3)
        typer.echo(f"redis: ok ({s.redis_url_redacted})")
    except redis.RedisError as exc:
        problems.append(f"redis at {s.redis_url_redacted}: {exc} — is redis-server running?")
    try:
        from healer.adapters.docker.engine import DockerEngine

        engine = DockerEngine.connect(s.docker_host, s.project_list)
        engine.ping()
        services = engine.services()
        typer.echo(f"docker: ok ({len(services)} managed services)")
        for note in actions.label_notes(services):
            typer.secho(f"  note: {note}", fg=typer.colors.YELLOW)
    except EngineError as exc:
        problems.append(f"docker: {exc} (is dockerd running, is DOCKER_HOST right?)")
    broken = actions.plugin_problems()
    if not broken:
        typer.echo(f"strategies: ok ({len(actions.plugin_names())} plugins; healer strategies)")
    problems += broken
    for p in problems:
        typer.secho(f"FAIL {p}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1 if problems else 0)


@app.command()
def strategies(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Repair actions: the built-ins and every installed plugin, with where each comes from."""
    rows = actions.catalog()
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in rows], indent=2))
    else:
        for r in rows:
            line = f"{r.name:24} {r.origin}"
            if r.error:
                typer.secho(f"{line}\n{'':24} BROKEN: {r.error}", fg=typer.colors.RED)
            else:
                typer.echo(f"{line}\n{'':24} {r.description}")


@app.command()
def run(
    workers: Annotated[
        int | None, typer.Option(help="Tasks run at once (HEALER_WORKER_CONCURRENCY).")
    ] = None,
    agent: Annotated[
        bool,
        typer.Option(
            "--agent",
            help="Join a cluster: only a worker and an events watcher for this host "
            "(HEALER_HOST, DOCKER_HOST), sharing REDIS_URL; beat and the API run elsewhere.",
        ),
    ] = False,
) -> None:
    """Worker + beat + events watcher + API in one foreground process tree (Ctrl-C stops);
    with --agent only the worker and the events watcher of this host (HEALER_HOST)."""
    s = settings()  # invalid settings fail here, with the clear message, not in a child
    # The roles would only crash and restart against an absent engine: wait for it here,
    # saying so once, before the supervisor starts them.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s healer-run %(message)s")
    engine = DockerEngine.connect(s.docker_host, s.project_list, s.docker_timeout)
    try:
        if not wait_for_engine(engine.ping, lambda: False):
            return
    except KeyboardInterrupt:
        return
    finally:
        engine.close()
    # The supervisor only waits on its child: exec a bare interpreter rather than keep this
    # one, with the CLI's imports (Celery, docker, typer) loaded, alive for the whole run.
    argv = [sys.executable, "-m", "healer.supervisor", "--host", s.host]
    if workers:
        argv += ["--workers", str(workers)]
    if agent:
        argv.append("--agent")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


@app.command("hosts")
def hosts_cmd(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    forget: Annotated[
        str | None, typer.Option(help="Drop a decommissioned host (stops its host_down).")
    ] = None,
) -> None:
    """The Docker hosts of the cluster: up, or host_down since their last heartbeat."""
    h = healer()
    if forget:
        if not h.hosts.forget(HostId(forget)):
            raise fail(f"no known host {forget!r}")
        typer.echo(f"forgot host {forget}")
        return
    data = hosts(h)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    if not data:
        typer.echo("no host has sent a heartbeat (is a worker running? healer run --agent)")
    for name, info in data.items():
        engine = info.get("engine_name", "?")
        strategies = info.get("strategies")
        plugins = "" if strategies is None else f", strategies: {strategies or 'none'}"
        typer.echo(
            f"{name:24} {info['status']:10} last heartbeat {info['heartbeat_age']:.0f}s ago "
            f"(engine {engine}{plugins})"
        )


def wait_for_engine(
    ping: Callable[[], None],
    stopping: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
    max_delay: float = 30.0,
) -> bool:
    """Block until the Docker engine answers (True) or we are asked to stop (False).

    Says once, in one line, which engine is unreachable and why, then retries with doubling
    delays: the roles would only crash and restart against an absent engine."""
    delay = 1.0
    said = False
    while not stopping():
        try:
            ping()
        except EngineError as exc:
            if not said:  # once: the reason may change wording between tries, not its meaning
                run_log.warning(
                    "%s; waiting for it (retrying with backoff up to %.0fs)", exc, max_delay
                )
                said = True
            sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        if said:
            run_log.warning("Docker engine is reachable again; starting the roles")
        return True
    return False


def main() -> None:
    try:
        app()
    except redis.RedisError as exc:
        typer.secho(f"error: Redis unavailable: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(3)
    except EngineError as exc:
        typer.secho(f"error: Docker engine: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(3)
