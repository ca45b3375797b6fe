"""The Docker engine, thinly: one list call per probe, a fresh read right before acting, and the
three actions. Translation of raw API payloads to model types is pure and tested on its own.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, TypedDict

import docker
import docker.errors
import requests

from healer.adapters.docker.state import Fixed, fixed_of, state_from_inspect
from healer.core.compose_labels import NUMBER_LABEL, ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL
from healer.core.container_state import ContainerState
from healer.core.events import WATCHED_ACTIONS
from healer.core.model import ContainerId, ContainerView, ServiceId, ServiceView, split_service_id
from healer.core.selection.listing import list_filters
from healer.core.selection.selector import DEFAULT_SELECTOR, PLAIN_PROJECT, Selector
from healer.errors import HealerError, Unavailable


class EngineError(HealerError):
    """The engine refused or failed; `status` keeps the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ContainerGone(EngineError):
    pass


class EngineUnreachable(EngineError, Unavailable):
    """No engine answers at the configured address; the message is one line naming it."""

    public = "Docker engine unreachable"


def engine_address(docker_host: str | None) -> str:
    return docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def unreachable_reason(exc: BaseException) -> str:
    """The root cause of a failed connection in a few words, not urllib3's retry chain."""
    text = str(exc)
    for needle, reason in (
        ("FileNotFoundError", "no socket at that path"),
        ("No such file or directory", "no socket at that path"),
        ("Connection refused", "connection refused"),
        ("Permission denied", "permission denied on the socket"),
        ("timed out", "timed out"),
        ("RemoteDisconnected", "it closed the connection without answering"),
        ("Connection reset", "it closed the connection without answering"),
        ("Connection aborted", "it closed the connection without answering"),
        ("Name or service not known", "unknown host name"),
        ("Temporary failure in name resolution", "host name does not resolve"),
    ):
        if needle in text:
            return reason
    return text.splitlines()[0][:200] if text else type(exc).__name__


class ListEntry(TypedDict, total=False):
    HostConfig: dict[str, str]
    Id: str
    Names: list[str]
    State: str
    Status: str
    Labels: dict[str, str]
    Created: int


_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_EXIT = re.compile(r"Exited \((-?\d+)\)")


def view_from_list_entry(entry: ListEntry) -> ContainerView | None:
    """A container from the list API, or None when it is not a compose service container."""
    labels = entry.get("Labels") or {}
    project, service = labels.get(PROJECT_LABEL), labels.get(SERVICE_LABEL)
    if not project or not service or labels.get(ONEOFF_LABEL, "False") == "True":
        return None
    status = entry.get("Status", "")
    m = _HEALTH.search(status)
    health = None if m is None else ("starting" if m.group(1) == "health: starting" else m.group(1))
    e = _EXIT.search(status)
    names = entry.get("Names") or [entry.get("Id", "")[:12]]
    try:
        number = int(labels.get(NUMBER_LABEL, "1"))
    except ValueError:
        number = 1
    return ContainerView(
        id=ContainerId(entry.get("Id", "")),
        name=names[0].lstrip("/"),
        project=project,
        service=service,
        number=number,
        state=entry.get("State", "unknown"),
        health=health,
        exit_code=int(e.group(1)) if e else None,
        labels=dict(labels),
        network_mode=str((entry.get("HostConfig") or {}).get("NetworkMode", "")),
        created=float(entry.get("Created") or 0),
    )


def plain_view_from_list_entry(entry: ListEntry) -> ContainerView | None:
    """A container started without compose as the one container of service `-/<name>`;
    None for a compose container (view_from_list_entry reads those)."""
    labels = entry.get("Labels") or {}
    if PROJECT_LABEL in labels:
        return None
    names = entry.get("Names") or []
    if not names:
        return None
    name = names[0].lstrip("/")
    fake = {**labels, PROJECT_LABEL: PLAIN_PROJECT, SERVICE_LABEL: name}
    view = view_from_list_entry({**entry, "Labels": fake})
    return None if view is None else replace(view, labels=dict(labels))


def refresh_from_inspect(view: ContainerView, state: ContainerState) -> ContainerView:
    """The list API reads a replica the engine updates after it emits an event, so a probe
    triggered by `die` can still see `running`; inspect reads the container itself."""
    status = state.status or view.state
    return replace(
        view,
        state=status,
        health=state.health if status == "running" else None,
        exit_code=state.exit_code if status in ("exited", "dead") else None,
    )


def group_services(views: Iterable[ContainerView]) -> dict[ServiceId, ServiceView]:
    grouped: dict[ServiceId, list[ContainerView]] = {}
    for v in views:
        grouped.setdefault(v.service_id, []).append(v)
    out: dict[ServiceId, ServiceView] = {}
    for sid, cs in sorted(grouped.items()):
        ordered = tuple(sorted(cs, key=lambda c: c.number))
        # Replica 1 is the one compose created from the file: its labels are the service's.
        out[sid] = ServiceView(sid, ordered, ordered[0].labels)
    return out


# Connections kept per client: a threads worker runs many repairs at once, and the SDK's
# default of 10 would open and drop a connection for every call beyond that.
POOL_SIZE = 128


def docker_client(
    docker_host: str | None, timeout: float = 60.0, pool_size: int = POOL_SIZE
) -> docker.DockerClient:
    """from_env honours DOCKER_TLS_VERIFY/DOCKER_CERT_PATH; DOCKER_HOST from settings wins.
    `timeout` bounds every call (the SDK adds the stop grace to stop and restart)."""
    env = {**os.environ, "DOCKER_HOST": docker_host} if docker_host else None
    return docker.from_env(environment=env, timeout=int(timeout), max_pool_size=pool_size)


def call_engine(fn: Callable[[], Any]) -> Any:
    """Run one SDK call, translating its errors to EngineError (HTTP status kept)."""
    try:
        return fn()
    except docker.errors.NotFound as exc:
        raise ContainerGone(str(exc), 404) from exc
    except docker.errors.APIError as exc:
        raise EngineError(str(exc), exc.status_code) from exc
    except docker.errors.DockerException as exc:
        raise EngineError(str(exc)) from exc
    except requests.exceptions.ConnectionError as exc:
        # The engine went away after the client connected (restart, socket gone).
        raise EngineUnreachable(f"Docker engine unreachable: {unreachable_reason(exc)}") from exc
    except OSError as exc:  # requests' other errors, a read timeout on a hung engine among them
        raise EngineError(f"{type(exc).__name__}: {exc}") from exc


# Wall seconds a bounded replay of the engine's buffered events may take: it holds at most
# a few hundred events, read in well under a second.
REPLAY_TIMEOUT = 10.0

# Containers whose fixed facts a process keeps (a few hundred bytes each).
FIXED_CACHE = 4096


class DockerEngine:
    def __init__(
        self,
        client: docker.DockerClient | None,
        projects: tuple[str, ...] = (),
        *,
        docker_host: str | None = None,
        timeout: float = 60.0,
        selector: Selector = DEFAULT_SELECTOR,
    ) -> None:
        self._client = client
        self.docker_host = docker_host
        self.timeout = timeout
        self.projects = frozenset(projects)
        self.selector = selector
        self.api_calls = 0  # for benchmarks: how many engine round trips a cycle costs
        self._fixed: OrderedDict[ContainerId, Fixed] = OrderedDict()
        self._fixed_lock = threading.Lock()

    @classmethod
    def connect(
        cls,
        docker_host: str | None,
        projects: tuple[str, ...] = (),
        timeout: float = 60.0,
        selector: Selector = DEFAULT_SELECTOR,
    ) -> DockerEngine:
        """Connects on first use, so a process started while the engine is away comes up
        (API answers 503, tasks fail with one line) and works once the engine is back.
        `timeout` bounds every call, connecting included: a hung engine fails as an
        EngineError like any other call."""
        return cls(None, projects, docker_host=docker_host, timeout=timeout, selector=selector)

    @property
    def address(self) -> str:
        return engine_address(self.docker_host)

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                # The client asks the engine for its API version at once.
                self._client = docker_client(self.docker_host, self.timeout)
            except docker.errors.DockerException as exc:
                raise EngineUnreachable(
                    f"Docker engine at {self.address} is unreachable: {unreachable_reason(exc)}"
                ) from exc
            except OSError as exc:  # a read timeout on a hung engine
                raise EngineError(
                    f"Docker engine at {self.address}: {type(exc).__name__}: {exc}"
                ) from exc
        return self._client

    def ping(self) -> None:
        client = self.client
        try:
            client.ping()
        except Exception as exc:  # the SDK raises several unrelated types here
            raise EngineUnreachable(
                f"Docker engine at {self.address} is unreachable: {unreachable_reason(exc)}"
            ) from exc

    def services(
        self, sid: ServiceId | None = None, *, project: str | None = None
    ) -> dict[ServiceId, ServiceView]:
        """Managed services (compose services and selected plain containers), from one list
        call per filter (sparse: no per-container inspect; usually one call).

        `sid` narrows to one service, `project` to one project (`-`: the plain containers)."""
        entries: dict[str, ListEntry] = {}
        plain = self.manages(PLAIN_PROJECT)
        for given in list_filters(self.selector, sid, project, plain_managed=plain):
            filters = {k: v for k, v in given.items() if v}  # AUTOHEAL_CONTAINER_LABEL=all: none
            entries.update((e.get("Id", ""), e) for e in self._list(filters))
        views = (self._view(e) for e in entries.values())
        # A filter for plain containers may list compose ones too (`all` has no label to ask).
        return group_services(
            v for v in views if v is not None and (project is None or v.project == project)
        )

    def _list(self, filters: dict[str, Any]) -> list[ListEntry]:
        return list(self._call(lambda: self.client.api.containers(all=True, filters=filters)))

    def _view(self, entry: ListEntry) -> ContainerView | None:
        labels = entry.get("Labels") or {}
        compose = PROJECT_LABEL in labels
        view = view_from_list_entry(entry) if compose else plain_view_from_list_entry(entry)
        if view is None or not self.manages(view.project):
            return None
        return view if self.selector.matches(labels, compose=compose) else None

    def project_fresh(
        self, sid: ServiceId, container_id: ContainerId | None
    ) -> dict[ServiceId, ServiceView]:
        """The project of `sid` (its dependencies decide whether it may be repaired), with
        the event's container re-read by inspect (see refresh_from_inspect)."""
        services = self.services(project=split_service_id(sid)[0])
        view = services.get(sid)
        if view is None or not container_id:
            return services
        try:
            info = self.inspect(container_id)
        except ContainerGone:
            return services
        containers = tuple(
            refresh_from_inspect(c, info) if c.id == container_id else c for c in view.containers
        )
        return {**services, sid: replace(view, containers=containers)}

    def system_time(self) -> str:
        """The engine's own clock (``/info`` SystemTime): container times are on it."""
        return str(self._call(lambda: self.client.info()).get("SystemTime", ""))

    def manages(self, project: str) -> bool:
        """HEALER_PROJECTS narrows compose projects; plain containers (`-`) stay managed
        unless it is set without `-` (the selector decides which of them)."""
        return not self.projects or project in self.projects

    def manages_labels(self, project: str, labels: dict[str, str]) -> bool:
        """An event's container: in a managed project and chosen by the selector."""
        compose = project != PLAIN_PROJECT
        return self.manages(project) and self.selector.matches(labels, compose=compose)

    def events(self, since: float) -> Any:
        """The engine's event stream of compose containers from `since` (decoded dicts);
        close it to stop following."""
        # Only the actions the healer reads (healer.core.events): a container with a
        # healthcheck emits three exec_* events per check, and 100 of them checking every
        # second would make the engine encode, and the watcher decode, 300 events a second
        # for nothing. `health_status` matches `health_status: unhealthy` and the others.
        filters: dict[str, Any] = {"type": "container", "event": sorted(WATCHED_ACTIONS)}
        # Plain containers have no compose label: then the selector (or nothing, with
        # AUTOHEAL_CONTAINER_LABEL=all) filters, and manages_labels decides per event.
        if not self.selector.is_default:
            filters["label"] = self.selector.engine_filters()
        elif not self.manages(PLAIN_PROJECT):
            filters["label"] = [PROJECT_LABEL]
        return self._call(lambda: self.client.events(decode=True, since=since, filters=filters))

    def replay(self, until: float, timeout: float = REPLAY_TIMEOUT) -> list[dict[str, Any]]:
        """Every event this engine still holds up to `until` (engine time), of any type,
        decoded: its in-memory buffer, the last 256. Finite: with `until` the engine closes
        the stream once it reaches it; past `timeout` (wall seconds) the stream is closed
        under the reader (the SDK reads events without a timeout) and this raises
        EngineError."""
        # since=1 (1970): all it holds, however old (a quiet engine keeps events for days).
        stream = self._call(lambda: self.client.events(since=1, until=until, decode=True))
        timed_out = threading.Event()

        def cut() -> None:
            timed_out.set()
            stream.close()

        timer = threading.Timer(timeout, cut)
        timer.start()
        try:
            events: list[dict[str, Any]] = self._call(lambda: list(stream))
        except Exception:
            if not timed_out.is_set():
                raise
        finally:
            timer.cancel()
            stream.close()
        if timed_out.is_set():  # cut short: what was read may lack the very event asked for
            raise EngineError(f"replaying the engine's events took over {timeout:g} s")
        return events

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def inspect(self, cid: ContainerId) -> ContainerState:
        return state_from_inspect(self.inspect_raw(cid))

    def inspect_raw(self, cid: ContainerId) -> dict[str, Any]:
        """The whole inspect payload, for the adapters that clone a container from it."""
        info = dict(self._call(lambda: self.client.api.inspect_container(cid)))
        self._remember(cid, info)
        return info

    def fixed(self, cid: ContainerId) -> Fixed | None:
        """The container's fixed facts if this process has inspected it, else None.

        They spare a repair the inspect of a container that runs a healthcheck: the engine
        holds such a container while the check's exec starts (seconds on a busy engine),
        while the list call reads a lock-free replica."""
        with self._fixed_lock:
            return self._fixed.get(cid)

    def _remember(self, cid: ContainerId, info: dict[str, Any]) -> None:
        fixed = fixed_of(info)
        with self._fixed_lock:
            self._fixed[cid] = fixed
            self._fixed.move_to_end(cid)
            while len(self._fixed) > FIXED_CACHE:
                self._fixed.popitem(last=False)

    def restart(self, cid: ContainerId, timeout: int) -> None:
        self._call(lambda: self.client.api.restart(cid, timeout=timeout))

    def start(self, cid: ContainerId) -> None:
        self._call(lambda: self.client.api.start(cid))

    def stop(self, cid: ContainerId, timeout: int | None) -> None:
        """``timeout`` None: the container's own stop grace period."""
        self._call(lambda: self.client.api.stop(cid, timeout=timeout))

    def kill(self, cid: ContainerId, signal: str) -> None:
        """POST /containers/{id}/kill?signal=…: delivered to the main process, no exec."""
        self._call(lambda: self.client.api.kill(cid, signal=signal))

    def wait_running(self, cid: ContainerId, timeout: float) -> ContainerState:
        """Poll until the container runs (or the deadline); returns the last inspect."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.inspect(cid)
            if info.up:
                return info
            if time.monotonic() >= deadline:
                return info
            time.sleep(0.05)

    def _call(self, fn: Callable[[], Any]) -> Any:
        self.api_calls += 1
        return call_engine(fn)
