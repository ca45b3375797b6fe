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
from healer.adapters.counters import Counters
from healer.adapters.docker_engine import docker_client
from healer.adapters.metrics import CONTAINER_EVENTS
from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.adapters.redis_conn import connect
from healer.adapters.state import StateStore
from healer.core.events import ContainerEvent, parse_event
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
        self.connected = threading.Event()  # set once a stream is open (heartbeat: ready)
        self.handled = 0

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
        lost = False
        while not self.stop.is_set():
            try:
                self._follow()
                delay, lost = 0.5, False
            except (docker.errors.DockerException, redis.RedisError, OSError) as exc:
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
        client = docker_client(self.settings.docker_host)
        since = self._cursor()
        stream = client.events(
            decode=True,
            since=since,
            filters={"type": "container", "label": ["com.docker.compose.project"]},
        )
        self._close_on_stop(stream)
        log.info("following Docker events since %s", since)
        self.connected.set()
        try:
            for raw in stream:
                if self.stop.is_set():
                    break
                ev = parse_event(raw)
                if ev is not None:
                    self.handle(ev)
        finally:
            stream.close()
            client.close()

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
