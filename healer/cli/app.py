"""The Typer application and what every command shares: settings, the Healer, SERVICE
arguments, and failing with a clear message and a documented exit code.

Exit codes: 0 done; 1 the operation failed, was refused or named something unknown;
2 bad usage or settings; 3 Redis or the Docker engine (or the task broker) unavailable."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from healer import __version__
from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.core.hosts import ServiceRef
from healer.engine.context import Healer, build
from healer.engine.status import require_live, resolve
from healer.errors import EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE, Refused, Unavailable
from healer.settings import Settings

# Exit codes by error kind (healer.errors): 1 refused or failed, 2 usage, 3 unavailable.
EXIT_OK, EXIT_FAILED = 0, EXIT_REFUSED
__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_UNAVAILABLE", "EXIT_USAGE", "app"]

app = typer.Typer(
    help="Self-healing and autoscaling for Docker Compose stacks.\n\n"
    "Exit codes: 0 done; 1 failed, refused or unknown; 2 bad usage or settings; "
    "3 Redis or Docker unavailable.",
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"healer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Self-healing and autoscaling for Docker Compose stacks."""


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise fail("invalid settings:\n" + "\n".join(lines), EXIT_USAGE) from exc


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
    except Refused as exc:
        raise fail(str(exc), EXIT_REFUSED) from exc
    except Unavailable as exc:
        raise fail(str(exc), EXIT_UNAVAILABLE) from exc
    return ref


ReasonOpt = Annotated[str, typer.Option(help="Why: kept in the history and request record.")]
