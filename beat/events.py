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

from healer.adapters.docker_engine import DockerEngine, EngineError
from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.adapters.stores import Stores
from healer.core.events import ContainerEvent, parse_event
from healer.settings import Settings

log = logging.getLogger("healer.events")


class EventsWatcher:
    def __init__(self, settings: Settings, dispatcher: CeleryDispatcher) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        stores = Stores.connect(settings)
        self.state, self.counters, self.telemetry = stores.state, stores.counters, stores.telemetry
        self.stop = threading.Event()
        self.connected = threading.Event()  # set once a stream is open (heartbeat: ready)
        self.handled = 0

    def handle(self, ev: ContainerEvent, engine: DockerEngine) -> None:
        """`engine`: the one whose stream delivered the event (it knows the managed projects)."""
        if not engine.manages(ev.sid.split("/", 1)[0]):
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
            except (EngineError, docker.errors.DockerException, redis.RedisError, OSError) as exc:
                self.connected.clear()
                # Said once per outage, not on every retry; the retries are DEBUG.
                level = logging.DEBUG if lost else logging.WARNING
                log.log(level, "event stream lost (%s); reconnecting with backoff", exc)
                lost = True
                self.stop.wait(delay)
                delay = min(delay * 2, 10.0)
            if once:
                return

    def _follow(self) -> None:
        # A fresh engine per stream: a reconnect after an engine restart starts clean.
        engine = DockerEngine.connect(self.settings.docker_host, self.settings.project_list)
        since = self._cursor()
        stream = engine.events(since)
        self._close_on_stop(stream)
        log.info("following Docker events since %s", since)
        self.connected.set()
        try:
            for raw in stream:
                if self.stop.is_set():
                    break
                ev = parse_event(raw)
                if ev is not None:
                    self.handle(ev, engine)
        finally:
            stream.close()
            engine.close()

    def _cursor(self) -> Any:
        return self.state.events_cursor(time.time())

    def _close_on_stop(self, stream: Any) -> None:
        def closer() -> None:
            self.stop.wait()
            stream.close()

        threading.Thread(target=closer, daemon=True).start()

    def heartbeat_loop(self, every: float = 10.0) -> None:
        """Beat while subscribed to the engine's stream: the first beat says "ready", so
        tests and operators wait for a positive signal instead of sleeping."""
        while not self.stop.is_set():
            if not self.connected.wait(0.2):
                continue
            try:
                self.counters.heartbeat("events", ttl=60)
            except redis.RedisError as exc:
                log.warning("heartbeat failed: %s", exc)
            self.stop.wait(every)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings()
    watcher = EventsWatcher(settings, CeleryDispatcher(make_celery(settings)))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: watcher.stop.set())
    threading.Thread(target=watcher.heartbeat_loop, daemon=True).start()
    watcher.run()


if __name__ == "__main__":
    main()
