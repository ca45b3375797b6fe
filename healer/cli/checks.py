"""Commands about the installation itself: check (settings, Redis, Docker, plugins) and
cleanup (the disk repair on demand)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import redis
import typer

from healer.adapters.docker.engine import DockerEngine, EngineError
from healer.adapters.store.connection import ping as redis_ping
from healer.adapters.store.connection import target as redis_target
from healer.cli.app import EXIT_FAILED, EXIT_UNAVAILABLE, app, healer, settings
from healer.cli.output import Format, JsonOpt, OutputOpt, emit, progress, wants_json
from healer.core.model import Outcome, Source
from healer.engine.repair import actions


@app.command()
def cleanup(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")] = False,
    output: OutputOpt = Format.TEXT,
    as_json: JsonOpt = False,
) -> None:
    """The disk repair now: dangling images, build cache, loose stopped containers, old logs.

    Never a volume, never a compose container, never a running container."""
    from healer.engine.disk import check_disk

    h = healer()
    with progress("cleaning up the Docker disk" if not dry_run else "listing what would go"):
        result = check_disk(h, source=Source.CLI, dry_run=dry_run)
    code = EXIT_FAILED if result.errors else 0
    if wants_json(output, as_json):
        emit(asdict(result))
        raise typer.Exit(code)
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
    raise typer.Exit(code)


@app.command()
def check(output: OutputOpt = Format.TEXT, as_json: JsonOpt = False) -> None:
    """Verify settings, Redis and Docker; say exactly what is wrong (exit 3: Redis or Docker
    unreachable, 1: another problem, 2: bad settings)."""
    s = settings()
    body: dict[str, Any] = {
        "settings": {"host": s.host, "projects": s.projects or "all"},
        "notes": [],
    }
    if not s.api_token:
        body["notes"].append("HEALER_API_TOKEN is unset; POST /repair and /alerts answer 403")
    unavailable: list[str] = []
    try:
        redis_ping(redis_target(s), timeout=3)
        body["redis"] = f"ok ({s.redis_url_redacted})"
    except redis.RedisError as exc:
        unavailable.append(f"redis at {s.redis_url_redacted}: {exc} — is redis-server running?")
    try:
        engine = DockerEngine.connect(s.docker_host, s.project_list, selector=s.selector)
        engine.ping()
        services = engine.services()
        body["docker"] = f"ok ({len(services)} managed services: {s.selector.describe()})"
        own = [key for key, _ in s.selector.labels]
        body["notes"] += actions.label_notes(services, own)
    except EngineError as exc:
        unavailable.append(f"docker: {exc} (is dockerd running, is DOCKER_HOST right?)")
    body["notes"] += _psi_notes()
    broken = actions.plugin_problems()
    body["strategies"] = f"ok ({len(actions.plugin_names())} plugins)" if not broken else "broken"
    body["problems"] = unavailable + broken
    body["ok"] = not body["problems"]
    code = EXIT_UNAVAILABLE if unavailable else (EXIT_FAILED if broken else 0)
    if wants_json(output, as_json):
        emit(body)
        raise typer.Exit(code)
    _print_check(body, s.watchdog_interval)
    raise typer.Exit(code)


def _psi_notes() -> list[str]:
    """The storm brake's host-pressure evidence needs Linux PSI; without it, say so."""
    from healer.adapters.overload.pressure import PSI_ROOT, available

    if available():
        return []
    return [
        f"{PSI_ROOT} is absent (kernel < 4.20 or psi=0): the storm brake judges overload "
        "by timed-out checks and engine slowness only"
    ]


def _print_check(body: dict[str, Any], interval: float) -> None:
    conf = body["settings"]
    typer.echo(
        f"settings: ok (host: {conf['host']}, projects: {conf['projects']}, interval {interval}s)"
    )
    for name in ("redis", "docker"):
        if name in body:
            typer.echo(f"{name}: {body[name]}")
    if body["strategies"] != "broken":
        typer.echo(f"strategies: {body['strategies']}; healer strategies")
    for note in body["notes"]:
        typer.secho(f"  note: {note}", fg=typer.colors.YELLOW)
    for p in body["problems"]:
        typer.secho(f"FAIL {p}", fg=typer.colors.RED, err=True)
