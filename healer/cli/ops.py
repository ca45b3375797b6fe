"""Commands that act: repair, pause, resume, reset, scale. Each goes through the same
engine function as its HTTP route and, with -o json, prints the route's body."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from healer.cli.app import EXIT_FAILED, EXIT_USAGE, ReasonOpt, app, fail, healer, service_arg
from healer.cli.output import Format, JsonOpt, OutputOpt, emit, progress, wants_json
from healer.core.actions import UnknownAction
from healer.core.model import Action, Outcome, Source
from healer.engine.context import Healer
from healer.engine.operations import control
from healer.engine.repair import actions
from healer.engine.repair.manual import enqueue_manual

# How a request record's outcome maps to the exit code.
GOOD = (Outcome.ACTED, Outcome.SKIPPED)


def wait_record(h: Healer, request_id: str, timeout: float, what: str) -> dict[str, Any]:
    """Poll the request record until it is done (a live line says how long it has been),
    as `GET /requests/{request_id}` answers it."""
    started = time.monotonic()
    with progress(f"{what}: queued") as line:
        while (waited := time.monotonic() - started) < timeout:
            data = h.requests.get(request_id)
            if data.get("status") == "done":
                return {"request_id": request_id, **data}
            # A rolling repair says which replica it is on (healer.engine.rollout).
            step = f" — {data['progress']}" if data.get("progress") else ""
            line.update(f"{what}: {data.get('status', 'queued')} for {waited:.0f}s{step}")
            time.sleep(0.2)
    raise fail(f"no outcome within {timeout:.0f}s — is a worker running? (healer check)")


@app.command()
def repair(
    service: str,
    action: Annotated[
        str,
        typer.Option(help="restart | start | stop_start | recreate | signal:NAME | a plugin's"),
    ] = Action.RESTART.value,
    wait: Annotated[bool, typer.Option(help="Wait for the outcome and print it.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 120,
    reason: ReasonOpt = "",
    output: OutputOpt = Format.TEXT,
    as_json: JsonOpt = False,
) -> None:
    """Repair SERVICE now, through the same guard (lock, cooldown) as automatic repairs.

    -o json: the body of POST /repair, or with --wait that of GET /requests/{request_id}."""
    h = healer()
    try:
        action = actions.check_in_cluster(h, action)
        ref = service_arg(h, service, live=True)
        actions.check_on_host(h, ref.host, action)
    except UnknownAction as exc:
        raise fail(f"--action: {exc}", EXIT_USAGE) from exc
    out = enqueue_manual(h, ref, action, reason or "requested via cli", Source.CLI)
    as_json = wants_json(output, as_json)
    if not as_json:
        typer.echo(f"queued {action} of {ref} as request {out['request_id']}")
    if not wait:
        if as_json:
            emit(out)
        return
    done = wait_record(h, out["request_id"], timeout, f"{action} of {ref}")
    if as_json:
        emit(done)
    else:
        typer.echo(f"{done['outcome']}: {done.get('reason', '')} {done.get('detail', '')}")
    raise typer.Exit(0 if done["outcome"] in GOOD else EXIT_FAILED)


def _said(body: dict[str, Any], as_json: bool, text: str) -> None:
    emit(body) if as_json else typer.echo(text)


@app.command()
def pause(
    service: Annotated[str | None, typer.Argument()] = None,
    reason: ReasonOpt = "",
    output: OutputOpt = Format.TEXT,
    as_json: JsonOpt = False,
) -> None:
    """Stop acting on SERVICE (or on everything); it is still observed and reported."""
    h = healer()
    ref = service_arg(h, service) if service else None
    out = control.pause(h, ref, reason, Source.CLI)
    _said(out, wants_json(output, as_json), f"paused: {ref or 'every service'}")


@app.command()
def resume(
    service: Annotated[str | None, typer.Argument()] = None,
    reason: ReasonOpt = "",
    output: OutputOpt = Format.TEXT,
    as_json: JsonOpt = False,
) -> None:
    """Undo `healer pause`."""
    h = healer()
    ref = service_arg(h, service) if service else None
    out = control.resume(h, ref, reason, Source.CLI)
    _said(out, wants_json(output, as_json), f"resumed: {ref or 'every service'}")


@app.command()
def reset(
    service: str,
    reason: ReasonOpt = "",
    output: OutputOpt = Format.TEXT,
    as_json: JsonOpt = False,
) -> None:
    """End SERVICE's episodes: attempts to zero, quarantine lifted."""
    h = healer()
    ref = service_arg(h, service)
    out = control.reset(h, ref, reason, Source.CLI)
    text = f"reset: {ref} ({out['keys_cleared']} state keys cleared)"
    _said(out, wants_json(output, as_json), text)


@app.command()
def scale(
    service: str,
    replicas: int,
    force: Annotated[bool, typer.Option(help="Go past the service's min/max replicas.")] = False,
    reason: ReasonOpt = "",
    output: OutputOpt = Format.TEXT,
    as_json: JsonOpt = False,
) -> None:
    """Scale SERVICE to N replicas (compose-style <project>-<service>-<n>), on the worker of
    its host, and wait for the outcome. -o json: the body of GET /requests/{request_id}."""
    if replicas < 0:
        raise fail("REPLICAS must be 0 or more", EXIT_USAGE)
    h = healer()
    ref = service_arg(h, service, live=True)
    out = control.request_scale(h, ref, replicas, force, reason, Source.CLI)
    wait = h.settings.scale_start_timeout + h.settings.scale_drain_timeout + 30
    done = wait_record(h, out["request_id"], wait, f"scaling {ref} to {replicas}")
    refused = done.get("reason") in ("refused", "not_autoscaled", "force_not_granted")
    if wants_json(output, as_json):
        emit(done)
    elif refused:
        raise fail(str(done.get("detail", "")))
    else:
        typer.echo(_scale_line(h, out["request_id"], ref, done))
    raise typer.Exit(0 if done.get("outcome") in GOOD and not refused else EXIT_FAILED)


def _scale_line(h: Healer, request_id: str, ref: object, done: dict[str, Any]) -> str:
    """`scaled: <ref> 1 -> 2. <detail>` from the task's result, else the record's outcome."""
    try:
        result = h.dispatcher.scale_result(request_id, timeout=5)  # type: ignore[attr-defined]
    except Exception:  # celery's TimeoutError, a task error re-raised: the record still says
        result = None
    if isinstance(result, dict) and "current" in result:
        return (
            f"{result.get('outcome')}: {ref} {result.get('current')} -> "
            f"{result.get('desired')}. {result.get('detail', '')}"
        )
    return f"{done.get('outcome')}: {ref} {done.get('reason', '')} {done.get('detail', '')}"
