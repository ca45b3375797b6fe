"""The Docker events watcher: turns `die`, `health_status: unhealthy`, `oom`, `stop` … into a
probe of that one service within milliseconds. Run it as `python -m beat.events`.

It resumes from the last event it saw after any engine or Redis outage, so a restart of
either loses nothing; whatever it still misses, beat's reconcile probe catches.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import docker
import redis

from healer.adapters.docker.engine import DockerEngine, EngineError
from healer.adapters.hardening.environ import keep_environ_private
from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.adapters.store.stores import Stores
from healer.core.boot.detect import engine_time
from healer.core.events import ContainerEvent, parse_event
from healer.engine.boot.check import restarted_projects
from healer.settings import Settings

log = logging.getLogger("healer.events")


class EventsWatcher:
    def __init__(self, settings: Settings, dispatcher: CeleryDispatcher) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        # Stores bound to this host (Settings.host): it follows one engine, its host's, and
        # every probe it enqueues goes to that host's queue (the dispatcher's host).
        stores = Stores.connect(settings)
        self.host = stores.host
        self.state, self.counters, self.telemetry = stores.state, stores.counters, stores.telemetry
        self.boot = stores.boot
        self.stop = threading.Event()
        self.connected = threading.Event()  # set once a stream is open (heartbeat: ready)
        self.handled = 0
        # Bumped on every connect and disconnect: the heartbeat records the engine as alive
        # only for the connection it saw open, never across a restart it has not noticed.
        self._generation = 0
        self._connected = False
        # Look for an engine restart on the first connect (the healer may start after a host
        # reboot) and after losing the engine, never after a Redis hiccup: a lone container
        # that crashed meanwhile would look like a restart of a one-container engine.
        self._engine_lost = True
        self._started = False  # the start-up look (intent + first reconcile) is done

    def handle(self, ev: ContainerEvent, engine: DockerEngine) -> None:
        """`engine`: the one whose stream delivered the event (it knows the managed projects)."""
        if not engine.manages_labels(ev.project, ev.labels):
            return
        healer_acting = self.state.is_acting(ev.container_id)
        if ev.looks_like_hand_stop and not healer_acting:
            self.state.mark_manual_stop(ev.container_id)
        elif ev.action == "start":
            self.state.clear_manual_stop(ev.container_id)
        if ev.action == "die" and not healer_acting:
            self.state.record_die(ev.sid, ev.time)
        self._count(ev)
        # The healer's own stop/restart emits die/stop: the repair task verifies its result,
        # a probe now would only find the container mid-restart.
        if ev.triggers_probe and not healer_acting:
            self.dispatcher.probe_service(ev.sid, ev.time, ev.action, ev.container_id)
        self.state.save_events_cursor(ev.time)
        self.handled += 1

    def _count(self, ev: ContainerEvent) -> None:
        """Per-container deaths and OOM kills for the metrics (the list call has neither)."""
        if ev.name:
            self.telemetry.container_event(ev.action, ev.sid, ev.name)

    def run(self, once: bool = False) -> None:
        """Follow the stream until `stop` is set, reconnecting with backoff."""
        delay = 0.5
        lost = False
        while not self.stop.is_set():
            try:
                self._follow()
                delay, lost = 0.5, False
                self._engine_lost = True  # the engine ended the stream: it is going away
            except redis.RedisError as exc:
                self.connected.clear()
                # Said once per outage, not on every retry; the retries are DEBUG.
                level = logging.DEBUG if lost else logging.WARNING
                log.log(level, "Redis lost (%s); reconnecting with backoff", exc)
                lost = True
                self.stop.wait(delay)
                delay = min(delay * 2, 2.0)
            except (EngineError, docker.errors.DockerException, OSError) as exc:
                self._engine_lost = True
                self.connected.clear()
                level = logging.DEBUG if lost else logging.WARNING
                log.log(level, "event stream lost (%s); reconnecting with backoff", exc)
                lost = True
                self.stop.wait(delay)
                # Capped low: after an engine restart, containers run out of order until the
                # watcher is back and the ordered recovery starts.
                delay = min(delay * 2, 2.0)
            if once:
                return

    def _follow(self) -> None:
        # A fresh engine per stream: a reconnect after an engine restart starts clean.
        engine = DockerEngine.connect(
            self.settings.docker_host,
            self.settings.project_list,
            selector=self.settings.selector,
        )
        self._check_boot(engine)
        self._start_up(engine)
        since = self._cursor()
        stream = engine.events(since)
        self._close_on_stop(stream)
        log.info("following Docker events of host %s since %s", self.host, since)
        self._generation += 1
        self._connected = True
        self.connected.set()
        try:
            for raw in stream:
                if self.stop.is_set():
                    break
                ev = parse_event(raw)
                if ev is not None:
                    self.handle(ev, engine)
        finally:
            self._connected = False
            self.connected.clear()
            self._generation += 1
            stream.close()
            engine.close()

    def _check_boot(self, engine: DockerEngine) -> None:
        """Before following (and replaying what was missed): did the engine restart?"""
        if not self.settings.boot_recovery or not self._engine_lost:
            return
        restarted_projects(
            engine,
            self.boot,
            self.settings.boot_deadline + 60,
            lambda project: self.dispatcher.boot(project, "engine restart"),
        )
        self._engine_lost = False

    def _start_up(self, engine: DockerEngine) -> None:
        """Once per process, right after the restart check (which reads the intent an
        earlier run left): record what runs now as the intent and reconcile at once, rather
        than one WATCHDOG_INTERVAL later, so an engine restart soon after the healer started
        is recognised and recovered in order."""
        if self._started:
            return
        if self.settings.boot_recovery:
            self.boot.remember(engine.services().values())
        self.dispatcher.probe_all()
        self._started = True
        log.info("start-up: intent recorded and a reconcile sent for host %s", self.host)

    def engine_alive(self) -> None:
        """Record the engine's clock while the stream is open: the restart check compares
        container start and stop times with the last of these."""
        generation = self._generation
        if not self._connected or not self.settings.boot_recovery:
            return
        engine = DockerEngine.connect(
            self.settings.docker_host,
            self.settings.project_list,
            selector=self.settings.selector,
        )
        try:
            now = engine_time(engine.system_time())
        finally:
            engine.close()
        if self._connected and self._generation == generation:
            self.boot.engine_alive(now)

    def _cursor(self) -> Any:
        return self.state.events_cursor(time.time())

    def _close_on_stop(self, stream: Any) -> None:
        def closer() -> None:
            self.stop.wait()
            stream.close()

        threading.Thread(target=closer, daemon=True).start()

    def heartbeat_loop(self, every: float | None = None) -> None:
        """Beat while subscribed to the engine's stream: the first beat says "ready", so
        tests and operators wait for a positive signal instead of sleeping. Every
        HEALER_HEARTBEAT_INTERVAL, at most 5 s, as the boot check reads the engine's clock
        from these beats."""
        interval = every if every is not None else min(5.0, self.settings.heartbeat_interval)
        while not self.stop.is_set():
            if not self.connected.wait(0.2):
                continue
            try:
                self.counters.heartbeat("events", ttl=max(60, 3 * interval))
                self.engine_alive()
            except (redis.RedisError, EngineError) as exc:
                log.warning("heartbeat failed: %s", exc)
            self.stop.wait(interval)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    keep_environ_private()
    settings = Settings()
    watcher = EventsWatcher(settings, CeleryDispatcher(make_celery(settings), settings.host_id))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: watcher.stop.set())
    threading.Thread(target=watcher.heartbeat_loop, daemon=True).start()
    watcher.run()


if __name__ == "__main__":
    main()
