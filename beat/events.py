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

from healer.adapters import keys
from healer.adapters.boot_store import BootStore
from healer.adapters.counters import Counters
from healer.adapters.docker_engine import DockerEngine, EngineError, docker_client
from healer.adapters.metrics import CONTAINER_EVENTS
from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.adapters.redis_conn import connect
from healer.adapters.state import StateStore
from healer.core.boot_detect import engine_time
from healer.core.events import ContainerEvent, parse_event
from healer.engine.boot_check import restarted_projects
from healer.settings import Settings

log = logging.getLogger("healer.events")


class EventsWatcher:
    def __init__(self, settings: Settings, dispatcher: CeleryDispatcher) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self.redis = connect(settings.redis_url)
        self.state = StateStore(self.redis, settings.crashloop_window)
        self.counters = Counters(self.redis)
        self.projects = frozenset(settings.project_list)
        self.stop = threading.Event()
        self.handled = 0
        self.boot = BootStore(self.redis)
        # Bumped on every connect and disconnect: the heartbeat records the engine as alive
        # only for the connection it saw open, never across a restart it has not noticed.
        self._generation = 0
        self._connected = False

    def handle(self, ev: ContainerEvent) -> None:
        project = ev.sid.split("/", 1)[0]
        if self.projects and project not in self.projects:
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
        self.redis.set(keys.EVENTS_CURSOR, repr(ev.time), ex=86400)
        self.handled += 1

    def _count(self, ev: ContainerEvent) -> None:
        """Per-container deaths and OOM kills for the metrics (the list call has neither)."""
        if not ev.name or ev.action not in ("die", "oom", "start"):
            return
        pipe = self.redis.pipeline(transaction=True)
        if ev.action == "die":
            pipe.hincrby(CONTAINER_EVENTS, f"restarts|{ev.sid}|{ev.name}", 1)
        else:
            pipe.hset(
                CONTAINER_EVENTS, f"oom|{ev.sid}|{ev.name}", "1" if ev.action == "oom" else "0"
            )
        pipe.expire(CONTAINER_EVENTS, keys.METRIC_TTL)
        pipe.execute()

    def run(self, once: bool = False) -> None:
        """Follow the stream until `stop` is set, reconnecting with backoff."""
        delay = 0.5
        while not self.stop.is_set():
            try:
                self._follow()
                delay = 0.5
            except (docker.errors.DockerException, EngineError, redis.RedisError, OSError) as exc:
                log.warning("event stream lost (%s); reconnecting in %.1fs", exc, delay)
                self.stop.wait(delay)
                # Capped low: after an engine restart, containers run out of order until the
                # watcher is back and the ordered recovery starts.
                delay = min(delay * 2, 2.0)
            if once:
                return

    def _follow(self) -> None:
        client = docker_client(self.settings.docker_host)
        self._check_boot(client)
        since = self._cursor()
        stream = client.events(
            decode=True,
            since=since,
            filters={"type": "container", "label": ["com.docker.compose.project"]},
        )
        self._close_on_stop(stream)
        log.info("following Docker events since %s", since)
        self._generation += 1
        self._connected = True
        try:
            for raw in stream:
                if self.stop.is_set():
                    break
                ev = parse_event(raw)
                if ev is not None:
                    self.handle(ev)
        finally:
            self._connected = False
            self._generation += 1
            stream.close()
            client.close()

    def _check_boot(self, client: docker.DockerClient) -> None:
        """Before following (and replaying what was missed): did the engine restart?"""
        if not self.settings.boot_recovery:
            return
        engine = DockerEngine(client, self.settings.project_list)
        deadline = self.settings.boot_deadline + 60
        restarted_projects(
            engine, self.boot, deadline, lambda p: self.dispatcher.boot(p, "engine restart")
        )

    def engine_alive(self) -> None:
        """Record the engine's clock while the stream is open: the restart check compares
        container start and stop times with the last of these."""
        generation = self._generation
        if not self._connected or not self.settings.boot_recovery:
            return
        client = docker_client(self.settings.docker_host)
        try:
            now = engine_time(DockerEngine(client).system_time())
        finally:
            client.close()
        if self._connected and self._generation == generation:
            self.boot.engine_alive(now)

    def _cursor(self) -> Any:
        raw = self.redis.get(keys.EVENTS_CURSOR)
        # Resume just after the last event seen; a fresh start looks a few seconds back.
        cursor = float(raw) if raw else time.time() - 5
        return max(cursor, time.time() - 3600)

    def _close_on_stop(self, stream: Any) -> None:
        def closer() -> None:
            self.stop.wait()
            stream.close()

        threading.Thread(target=closer, daemon=True).start()

    def heartbeat_loop(self, every: float = 5.0) -> None:
        while not self.stop.wait(every):
            try:
                self.counters.heartbeat("events", ttl=60)
                self.engine_alive()
            except (redis.RedisError, EngineError) as exc:
                log.warning("heartbeat failed: %s", exc)


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
