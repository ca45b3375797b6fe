"""Commands that read: status, history (and --follow), report, hosts, strategies."""

from __future__ import annotations

import time
from collections import Counter
from typing import Annotated, Any

import typer

from healer.adapters.store.history import Record
from healer.cli.app import app, fail, healer
from healer.cli.follow import follow
from healer.cli.output import Format, JsonOpt, OutputOpt, emit, emit_line, wants_json
from healer.core.duration.parse import parse_duration
from healer.core.model import HostId, Outcome
from healer.engine.operations.bodies import history_body, status_body
from healer.engine.repair import actions
from healer.engine.status import hosts


@app.command("status")
def status_cmd(output: OutputOpt = Format.TEXT, as_json: JsonOpt = False) -> None:
    """Each managed service: containers, state, health, attempts, cooldown, flags."""
    h = healer()
    body = status_body(h)
    if wants_json(output, as_json):
        emit(body)
        return
    typer.echo(f"redis master: {body['redis']['master']} ({body['redis']['url']})")
    print_recoveries(body["recoveries"])
    if body["paused_all"]:
        typer.secho("healer is PAUSED for every service (healer resume)", fg=typer.colors.YELLOW)
    for name, info in body["hosts"].items():
        if info["status"] != "up":
            typer.secho(
                f"host {name}: HOST_DOWN (no heartbeat for {info['heartbeat_age']:.0f}s)",
                fg=typer.colors.RED,
            )
    _print_services(body["services"])


def _print_services(data: dict[str, dict[str, Any]]) -> None:
    if not data:
        typer.echo("no managed compose services found")
    typer.echo(
        f"{'HOST':16} {'SERVICE':32} {'STATUS':12} {'CONTAINERS':24} {'ATTEMPTS':8} COOLDOWN"
    )
    for sid, snap in data.items():
        states = ",".join(
            f"{c['state']}" + (f"/{c['health']}" if c.get("health") else "")
            for c in snap["containers"]
        )
        left = max(snap["cooldown_remaining"].values(), default=0.0)
        status_text = "host_down" if snap.get("host_status") == "host_down" else snap["status"]
        typer.echo(
            f"{snap.get('host', '')!s:16} {sid:32} {status_text!s:12} {states:24} "
            f"{snap['attempts']!s:8} {f'{left:.0f}s' if left else '-'}"
        )
        scale = snap.get("scale")
        if isinstance(scale, dict):
            typer.echo(f"    scale: {scale.get('reason', '')}")
        for p in snap.get("problems") or []:
            typer.secho(f"    ! {p}", fg=typer.colors.YELLOW)


def print_recoveries(boots: dict[str, dict[str, Any]]) -> None:
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


def since_arg(text: str) -> float:
    try:
        return time.time() - parse_duration(text)
    except ValueError as exc:
        raise fail(f"--since {text!r}: use e.g. 30m, 24h, 7d", 2) from exc


@app.command()
def history(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    since: Annotated[str, typer.Option(help="How far back, e.g. 30m, 24h, 7d.")] = "24h",
    output: OutputOpt = Format.TEXT,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option(min=1, help="Entries per page.")] = 200,
    host: Annotated[str | None, typer.Option(help="Only this Docker host.")] = None,
    before: Annotated[
        str | None, typer.Option(help="The `next` of a previous page: older entries.")
    ] = None,
    follow_: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Then print new entries as they happen (Ctrl-C)."),
    ] = False,
) -> None:
    """Every decision: acted, skipped (and why), failed, quarantined (with its host).

    With -o json: the body of GET /history ({"entries", "next"}); with --follow, one JSON
    entry per line."""
    h = healer()
    start = h.history.last_id()  # taken first: nothing recorded meanwhile is missed
    body = history_body(
        h, since=since_arg(since), limit=limit, service=service, host=host, before=before
    )
    as_json = wants_json(output, as_json)
    if as_json and not follow_:
        emit(body)
        return
    show = _json_entry if as_json else _text_entry
    for entry in reversed(body["entries"]):
        show(entry.pop("id"), Record(**entry))
    if follow_:
        try:
            follow(h, start, show, service=service, host=host)
        except KeyboardInterrupt:
            return


def _text_entry(_: str, rec: Record) -> None:
    typer.echo(rec.line())


def _json_entry(entry_id: str, rec: Record) -> None:
    emit_line({"id": entry_id, **rec.__dict__})


@app.command()
def report(
    since: Annotated[str, typer.Option(help="Window, e.g. 24h.")] = "24h",
    output: OutputOpt = Format.TEXT,
    as_json: JsonOpt = False,
) -> None:
    """Summary of the window: repairs per service and outcome, skips by reason."""
    h = healer()
    recs = h.history.query(since=since_arg(since), limit=100_000)
    outcomes = Counter((f"{r.host}/{r.sid}" if r.host else r.sid, r.outcome) for r in recs)
    reasons = Counter(r.reason for r in recs if r.outcome == Outcome.SKIPPED)
    if wants_json(output, as_json):
        rows = [{"service": s, "outcome": o, "count": n} for (s, o), n in sorted(outcomes.items())]
        emit({"since": since, "decisions": len(recs), "outcomes": rows, "skips": dict(reasons)})
        return
    typer.echo(f"decisions in the last {since}: {len(recs)}")
    for (sid, outcome), n in sorted(outcomes.items()):
        typer.echo(f"  {sid:48} {outcome:12} {n}")
    if reasons:
        typer.echo("skips by reason:")
        for reason, n in reasons.most_common():
            typer.echo(f"  {reason:24} {n}")


@app.command()
def strategies(output: OutputOpt = Format.TEXT, as_json: JsonOpt = False) -> None:
    """Repair actions: the built-ins and every installed plugin, with where each comes from."""
    rows = actions.catalog()
    if wants_json(output, as_json):
        emit([r.__dict__ for r in rows])
        return
    for r in rows:
        line = f"{r.name:24} {r.origin}"
        if r.error:
            typer.secho(f"{line}\n{'':24} BROKEN: {r.error}", fg=typer.colors.RED)
        else:
            typer.echo(f"{line}\n{'':24} {r.description}")


@app.command("hosts")
def hosts_cmd(
    output: OutputOpt = Format.TEXT,
    as_json: JsonOpt = False,
    forget: Annotated[
        str | None, typer.Option(help="Drop a decommissioned host (stops its host_down).")
    ] = None,
) -> None:
    """The Docker hosts of the cluster: up, or host_down since their last heartbeat."""
    h = healer()
    if forget:
        if not h.hosts.forget(HostId(forget)):
            raise fail(f"no known host {forget!r}")
        if wants_json(output, as_json):
            emit({"forgot": forget})
        else:
            typer.echo(f"forgot host {forget}")
        return
    data = hosts(h)
    if wants_json(output, as_json):
        emit(data)
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
