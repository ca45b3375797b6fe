"""`healer`: the operator's command line. It talks to Redis and Docker directly and enqueues
repairs through Celery, so they show in Flower like any other.

One module per group of commands (reads, ops, checks); this one adds `run` and the entry
point, which maps Redis and Docker being unavailable to exit code 3."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Annotated

import redis
import typer

from healer.adapters.docker.engine import DockerEngine, EngineError
from healer.cli import checks, ops, reads  # noqa: F401  (they register their commands)
from healer.cli.app import EXIT_UNAVAILABLE, app, settings
from healer.cli.reads import print_recoveries as _print_recoveries
from healer.errors import EXIT_REFUSED, Refused, Unavailable

__all__ = ["_print_recoveries", "app", "main", "run"]

run_log = logging.getLogger("healer.run")


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
        if s.start_period > 0:  # docker-autoheal's AUTOHEAL_START_PERIOD
            run_log.info("watching containers in %.0f second(s)", s.start_period)
            time.sleep(s.start_period)
    except KeyboardInterrupt:
        return
    finally:
        engine.close()
    run_log.info("managing %s", s.selector.describe())
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
    except Unavailable as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(EXIT_UNAVAILABLE)
    except Refused as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(EXIT_REFUSED)
    except redis.RedisError as exc:
        typer.secho(f"error: Redis unavailable: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(EXIT_UNAVAILABLE)
    except EngineError as exc:
        typer.secho(f"error: Docker engine: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(EXIT_UNAVAILABLE)
