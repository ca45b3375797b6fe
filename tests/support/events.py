"""Record the Docker engine's container events of one compose project while a test runs."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypedDict

import docker

from .compose import PROJECT_LABEL, SERVICE_LABEL, ComposeProject


class RecordedEvent(TypedDict):
    action: str  # 'start', 'die', 'restart', 'health_status: unhealthy', ...
    service: str | None  # com.docker.compose.service of the container
    container_id: str
    name: str | None  # container name
    time_ns: int  # engine time (timeNano), comparable with time.time_ns()
    attributes: dict[str, str]  # the Actor's attributes (labels, exitCode, signal, ...)


def _matches(event: RecordedEvent, action: str | None, service: str | None) -> bool:
    # 'health_status' matches 'health_status: healthy' too; 'exec_start' its 'exec_start: cmd'.
    if (
        action is not None
        and event["action"] != action
        and not event["action"].startswith(action + ":")
    ):
        return False
    return service is None or event["service"] == service


class EventRecorder:
    """Collects the project's container events from a background thread.

    The subscription is open when the constructor returns, so every event after that is
    seen. ``exec_*`` events (one trio per healthcheck run) are dropped unless
    ``include_exec``.
    """

    def __init__(
        self, client: docker.DockerClient, project: str, *, include_exec: bool = False
    ) -> None:
        self.project = project
        self.started_ns = time.time_ns()
        self._include_exec = include_exec
        self._events: list[RecordedEvent] = []
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._stopping = False
        filters = {"type": "container", "label": f"{PROJECT_LABEL}={project}"}
        # Opening the stream here (not in the thread) is what makes "from now" exact: the
        # engine subscribes before it answers the request.
        self._stream: Any = client.events(decode=True, filters=filters)
        self._thread = threading.Thread(
            target=self._read, name=f"docker-events-{project}", daemon=True
        )
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self._stream:
                self._add(raw)
        except Exception as exc:  # the stream ends with an error when stop() closes it
            if not self._stopping:
                self._error = exc
        finally:
            with self._cond:
                self._cond.notify_all()

    def _add(self, raw: dict[str, Any]) -> None:
        action = str(raw.get("Action") or raw.get("status") or "")
        if action.startswith("exec_") and not self._include_exec:
            return
        actor = raw.get("Actor") or {}
        attributes = dict(actor.get("Attributes") or {})
        event = RecordedEvent(
            action=action,
            service=attributes.get(SERVICE_LABEL),
            container_id=str(actor.get("ID") or raw.get("id") or ""),
            name=attributes.get("name"),
            time_ns=int(raw.get("timeNano") or raw.get("time", 0) * 1_000_000_000),
            attributes=attributes,
        )
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def events(self, action: str | None = None, service: str | None = None) -> list[RecordedEvent]:
        """A snapshot of the events so far, optionally of one action and/or service."""
        with self._cond:
            return [e for e in self._events if _matches(e, action, service)]

    def wait_for(
        self, action: str, service: str | None, count: int = 1, timeout: float = 30.0
    ) -> list[RecordedEvent]:
        """Wait until ``count`` events match (counted since the recorder started).

        Returns the matching events. To wait for a *new* event, pass
        ``count=len(recorder.events(action, service)) + 1``. On timeout raises
        AssertionError listing every event seen.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [e for e in self._events if _matches(e, action, service)]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0 or not self._thread.is_alive():
                    break
                self._cond.wait(remaining)
        if len(found) >= count:
            return found
        raise AssertionError(
            f"expected {count} {action!r} event(s) of service {service!r} in project "
            f"{self.project} within {timeout:g}s, saw {len(found)}"
            + (f"; event stream failed: {self._error!r}" if self._error else "")
            + "\n"
            + self.describe()
        )

    def describe(self) -> str:
        """The events so far, one line each, with seconds since the recorder started."""
        with self._cond:
            events = list(self._events)
        if not events:
            return "  (no events)"
        return "\n".join(
            f"  +{(e['time_ns'] - self.started_ns) / 1e9:7.3f}s {e['service'] or '?':<12} "
            f"{e['action']} ({e['name']})"
            for e in events
        )

    def stop(self) -> None:
        """Close the stream and end the thread (idempotent)."""
        self._stopping = True
        with contextlib.suppress(Exception):  # closing an already broken stream
            self._stream.close()
        self._thread.join(timeout=5)


class EventsFactory(Protocol):
    """The type of the ``docker_events`` fixture (for annotating tests)."""

    def __call__(
        self, project: str | ComposeProject, *, include_exec: bool = False
    ) -> EventRecorder: ...


class FollowingEventRecorder(EventRecorder):
    """An :class:`EventRecorder` that follows one engine across its restarts.

    When the stream ends (the engine stopped), it reconnects as soon as the engine answers
    again, asking for everything since the last event it saw, so the containers the engine
    starts while it restores (before its API answers) are recorded too. Events seen twice
    across a reconnect are kept once.
    """

    def __init__(
        self,
        connect: Callable[[], docker.DockerClient],
        project: str,
        *,
        include_exec: bool = False,
    ) -> None:
        self.project = project
        self.started_ns = time.time_ns()
        self._include_exec = include_exec
        self._events: list[RecordedEvent] = []
        self._seen: set[tuple[int, str, str]] = set()
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._stopping = False
        self._connect = connect
        self._filters = {"type": "container", "label": f"{PROJECT_LABEL}={project}"}
        self.reconnects = 0
        client = connect()
        self._client = client
        self._stream = client.events(decode=True, filters=self._filters)
        self._thread = threading.Thread(
            target=self._follow, name=f"docker-events-{project}", daemon=True
        )
        self._thread.start()

    def _follow(self) -> None:
        while not self._stopping:
            with contextlib.suppress(Exception):  # the engine went away mid-stream
                for raw in self._stream:
                    self._add(raw)
            if self._stopping:
                break
            self._reopen()
        with self._cond:
            self._cond.notify_all()

    def _reopen(self) -> None:
        since = (self._events[-1]["time_ns"] if self._events else self.started_ns) / 1e9
        with contextlib.suppress(Exception):
            self._client.close()
        while not self._stopping:
            client = None
            try:
                client = self._connect()
                self._stream = client.events(decode=True, filters=self._filters, since=since)
            except Exception:  # engine still down: docker, requests and socket errors alike
                if client is not None:
                    client.close()
                time.sleep(0.05)
                continue
            self._client = client
            self.reconnects += 1
            return

    def _add(self, raw: dict[str, Any]) -> None:
        key = (
            int(raw.get("timeNano") or 0),
            str((raw.get("Actor") or {}).get("ID") or raw.get("id") or ""),
            str(raw.get("Action") or raw.get("status") or ""),
        )
        with self._cond:
            if key in self._seen:
                return
            self._seen.add(key)
        super()._add(raw)

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(Exception):
            self._stream.close()
        with contextlib.suppress(Exception):
            self._client.close()
        self._thread.join(timeout=5)
