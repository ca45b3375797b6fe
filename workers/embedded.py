"""Beat, the events watcher and the API as threads of the worker process (`healer run`).

`celery -A workers.app worker --embed beat,events,api` runs each named role in a thread of
the worker, with the same code the compose roles run as separate containers: RedBeat's
scheduler (`beat.scheduler`), `beat.events.EventsWatcher` and `healer.api.app.create_app`.
Every role waits on Redis, Docker or a socket, so they share one interpreter (and its
imports: about 70 MiB) instead of each paying for its own. The threads start when the worker
is ready and stop with it; a role that crashes is logged and restarted after a pause, and if
the whole process dies the supervisor starts it again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import click
from celery import Celery, bootsteps
from celery.beat import EmbeddedService

from healer.adapters.queue import CeleryDispatcher
from healer.settings import Settings

log = logging.getLogger("healer.embedded")

ROLES = ("beat", "events", "api")
RESTART_PAUSE = 5.0  # seconds before a crashed role runs again: no hot crash loop


class Role:
    """One role in a thread: `run` blocks until `stop` is called."""

    def __init__(self, name: str, run: Callable[[], None], stop: Callable[[], None]) -> None:
        self.name, self._run, self._stop = name, run, stop
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"healer-{name}", daemon=True)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self._run()
            except Exception:  # a role's bug must not end the others or the worker
                log.exception("embedded %s crashed; restarting in %.0fs", self.name, RESTART_PAUSE)
            self.stopping.wait(RESTART_PAUSE)

    def start(self) -> None:
        self.thread.start()
        log.info("embedded %s started", self.name)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self._stop()
        self.thread.join(timeout)


def beat_role(app: Celery) -> Role:
    # max_interval 1 s: the thread notices a stop within a second (Celery's own choice).
    # Celery's Service defaults to PersistentScheduler (a file in the cwd, no lock); only the
    # `beat` command passes app.conf.beat_scheduler, so name it here: RedBeat's lock keeps a
    # second `healer run` (or a compose beat) from scheduling twice.
    service = EmbeddedService(app, thread=True, scheduler_cls=app.conf.beat_scheduler)
    return Role("beat", service.service.start, lambda: service.service.stop())


def events_role(settings: Settings, app: Celery) -> Role:
    from beat.events import EventsWatcher

    watcher = EventsWatcher(settings, CeleryDispatcher(app, settings.host_id))

    def run() -> None:
        threading.Thread(target=watcher.heartbeat_loop, daemon=True).start()
        watcher.run()

    return Role("events", run, watcher.stop.set)


def api_role(settings: Settings) -> Role:
    import uvicorn

    from healer.api.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        # One event loop thread: the API does little and blocks on nothing slow.
        lifespan="off",
    )
    server = uvicorn.Server(config)

    def run() -> None:
        server.should_exit = False
        server.run()  # no signal handlers outside the main thread; stop() ends it

    def stop() -> None:
        server.should_exit = True

    return Role("api", run, stop)


def parse_roles(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = sorted(set(names) - set(ROLES))
    if unknown:
        raise click.BadParameter(f"unknown role(s) {unknown}; known: {', '.join(ROLES)}")
    return names


class EmbeddedRoles(bootsteps.StartStopStep):  # type: ignore[misc]
    """The worker bootstep behind `--embed`."""

    def __init__(self, worker: Any, embed: str = "", **_: Any) -> None:
        self.names = parse_roles(embed or "")
        self.roles: list[Role] = []

    def start(self, worker: Any) -> None:
        from workers.app import settings

        makers: dict[str, Callable[[], Role]] = {
            "beat": lambda: beat_role(worker.app),
            "events": lambda: events_role(settings, worker.app),
            "api": lambda: api_role(settings),
        }
        for name in self.names:
            role = makers[name]()
            role.start()
            self.roles.append(role)

    def stop(self, worker: Any) -> None:
        for role in reversed(self.roles):
            role.stop()
        self.roles.clear()


def install(app: Celery) -> None:
    app.user_options["worker"].add(
        click.Option(
            ["--embed"],
            default="",
            help=f"Comma list of roles to run as threads of this worker ({', '.join(ROLES)}).",
        )
    )
    app.steps["worker"].add(EmbeddedRoles)
