"""More than one Docker host: host names, service ids across hosts, and host liveness.

Pure: the catalogue of which host serves which service, and the heartbeat times, are read by
adapters and handed in; nothing here touches Redis or Docker.
"""

from __future__ import annotations

import enum
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from healer.core.model import HostId, ServiceId
from healer.errors import Conflict, NotFound

# Host names become Redis key parts, Celery queue names and Prometheus label values: no `/`
# (service ids), `|` (counter fields), `:` (keys) or whitespace.
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def validate_host(name: str) -> HostId:
    """The configured HEALER_HOST, or a ValueError that says what is allowed."""
    name = name.strip()
    if not _HOST_NAME.match(name):
        raise ValueError(
            f"host name {name!r} must be 1-63 characters of letters, digits, '.', '-' or '_', "
            "starting with a letter or digit"
        )
    return HostId(name)


@dataclass(frozen=True, order=True)
class ServiceRef:
    """A compose service on one Docker host: `host/project/service`."""

    host: HostId
    sid: ServiceId

    @property
    def qualified(self) -> str:
        return f"{self.host}/{self.sid}"

    def __str__(self) -> str:
        return self.qualified


class UnknownService(NotFound, LookupError):
    """No managed service matches the id."""


class AmbiguousService(Conflict, LookupError):
    """Several services match; `candidates` are their qualified ids."""

    def __init__(self, message: str, candidates: tuple[str, ...]) -> None:
        super().__init__(message)
        self.candidates = candidates


Catalogue = Mapping[HostId, Iterable[ServiceId]]

# The `host` label of series about no single host (the shared queues any worker takes);
# never a valid host name, so it cannot be confused with one.
SHARED_HOST = "*"


def resolve_service(name: str, catalogue: Catalogue) -> ServiceRef:
    """`host/project/service`, `project/service` or `service` → the one service it names.

    A two-part id is `project/service` on any host, a one-part id a service of any project on
    any host; either must match exactly one service, else the error lists the candidates.
    """
    parts = name.strip().strip("/").split("/")
    if len(parts) > 3 or not all(parts):
        raise UnknownService(
            f"{name!r} is not a service id: use service, project/service or host/project/service"
        )
    refs = [ServiceRef(h, sid) for h, sids in catalogue.items() for sid in sids]
    matches = sorted(r for r in refs if _matches(r, parts))
    if not matches:
        raise UnknownService(f"no managed compose service {name!r}{_where(parts, catalogue)}")
    if len(matches) > 1:
        candidates = tuple(m.qualified for m in matches)
        raise AmbiguousService(
            f"{name!r} matches several services; say which: {', '.join(candidates)}", candidates
        )
    return matches[0]


def _matches(ref: ServiceRef, parts: list[str]) -> bool:
    project, _, service = ref.sid.partition("/")
    return [ref.host, project, service][-len(parts) :] == parts


def _where(parts: list[str], catalogue: Catalogue) -> str:
    if len(parts) == 3 and HostId(parts[0]) not in catalogue:
        known = ", ".join(sorted(catalogue)) or "none"
        return f" (host {parts[0]!r} is not known; known hosts: {known})"
    return ""


def display_ids(refs: Iterable[ServiceRef]) -> dict[ServiceRef, str]:
    """The shortest id that still names each service alone: `project/service` while no other
    host runs the same project/service, else `host/project/service`. Every id returned is one
    `resolve_service` accepts, and with one host they are exactly the single-host ids."""
    refs = list(refs)
    hosts_of: dict[ServiceId, set[HostId]] = {}
    for r in refs:
        hosts_of.setdefault(r.sid, set()).add(r.host)
    return {r: (str(r.sid) if len(hosts_of[r.sid]) == 1 else r.qualified) for r in refs}


class HostState(enum.StrEnum):
    UP = "up"
    DOWN = "host_down"


@dataclass(frozen=True)
class HostStatus:
    host: HostId
    state: HostState
    last_heartbeat: float
    age: float  # seconds since the last heartbeat


def host_states(
    heartbeats: Mapping[HostId, float], now: float, down_after: float
) -> dict[HostId, HostStatus]:
    """A host is down once no heartbeat arrived for `down_after` seconds."""
    out = {}
    for host, ts in sorted(heartbeats.items()):
        age = max(0.0, now - ts)
        state = HostState.UP if age <= down_after else HostState.DOWN
        out[host] = HostStatus(host, state, ts, age)
    return out


def in_scope(host: HostId, patterns: Iterable[str]) -> bool:
    """Whether a beat limited to `patterns` (HEALER_BEAT_HOSTS; none: all) serves `host`."""
    patterns = list(patterns)
    return not patterns or any(fnmatch.fnmatchcase(host, p) for p in patterns)


def down_after(heartbeat_interval: float) -> float:
    """Two missed heartbeats and a little slack: one lost write does not flap a host down,
    and a dead agent shows within two intervals."""
    return 2 * heartbeat_interval + min(heartbeat_interval, 5.0)


def host_of_alert(labels: Mapping[str, str], known: Iterable[HostId]) -> HostId | None:
    """The Docker host an alert is about: its `host` label, else its `instance` label when
    that (without a :port) names a known host. `instance` is often the scraped exporter's
    address, so an instance that is no healer host means "no host", not an error."""
    host = labels.get("host", "").strip()
    if host and host != SHARED_HOST:
        return HostId(host)
    instance = labels.get("instance", "").strip()
    if instance.startswith("["):  # [::1]:9100
        instance = instance[1:].split("]", 1)[0]
    elif instance.count(":") == 1:
        instance = instance.split(":", 1)[0]
    return HostId(instance) if instance and instance in set(known) else None
