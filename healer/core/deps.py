"""Dependency graph of compose services, built from container labels. Pure, no I/O.

Compose records ``depends_on`` on every container as the label
``com.docker.compose.depends_on="db:service_healthy:true,cache:service_started:false"``
(``name:condition:restart``; older releases wrote ``db:service_started`` or just ``db``). A
service started with ``network_mode: service:db`` runs in db's network namespace; Docker shows
that as ``HostConfig.NetworkMode = "container:<db container id>"``, so the caller passes the
network modes and a map from container id/name to service id.

Service ids are ``"project/service"``; names in a label refer to the same project. Bad label
entries never raise: they are skipped or defaulted and described in ``problems``.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

from healer.core.compose_labels import DEPENDS_ON_LABEL
from healer.core.model import ServiceId

RestartHow = Literal["restart", "recreate"]

CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TRUE = frozenset({"true", "1", "t", "yes"})
_FALSE = frozenset({"false", "0", "f", "no"})
# Short container ids are 12 hex characters; shorter prefixes are too ambiguous to trust.
_MIN_ID_PREFIX = 12


@dataclass(frozen=True)
class Dependency:
    """``service`` depends on ``on``; ``restart`` is compose's ``restart: true``."""

    service: ServiceId
    on: ServiceId
    condition: str = "service_started"
    restart: bool = False


def sibling(service: str, name: str) -> ServiceId:
    """The id of service ``name`` in the same project as ``service``."""
    project, slash, _ = service.rpartition("/")
    return ServiceId(f"{project}/{name}" if slash else name)


def _parse_flag(where: str, flag: str, problems: list[str]) -> bool:
    lowered = flag.strip().lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    problems.append(f"{where}: restart flag {flag!r} is not true/false; using false")
    return False


def _parse_entry(service: ServiceId, entry: str, problems: list[str]) -> Dependency | None:
    where = f"{service}: depends_on entry {entry!r}"
    name, *rest = (part.strip() for part in entry.split(":"))
    if not _NAME.fullmatch(name):
        problems.append(f"{where}: {name!r} is not a service name; ignored")
        return None
    if sibling(service, name) == service:
        problems.append(f"{where}: a service cannot depend on itself; ignored")
        return None
    condition = rest[0] if rest and rest[0] else CONDITIONS[0]
    if condition not in CONDITIONS:
        problems.append(f"{where}: unknown condition {condition!r}; using {CONDITIONS[0]}")
        condition = CONDITIONS[0]
    restart = _parse_flag(where, rest[1], problems) if len(rest) > 1 else False
    if len(rest) > 2:
        problems.append(f"{where}: unexpected extra fields {rest[2:]!r}; ignored")
    return Dependency(service, sibling(service, name), condition, restart)


def parse_depends_on(service: str, value: str) -> tuple[tuple[Dependency, ...], tuple[str, ...]]:
    """The dependencies a ``com.docker.compose.depends_on`` value declares, and its problems."""
    sid, problems = ServiceId(service), list[str]()
    found: dict[ServiceId, Dependency] = {}
    for entry in (e.strip() for e in value.split(",")):
        dep = _parse_entry(sid, entry, problems) if entry else None
        if dep is not None and dep.on in found:
            problems.append(f"{sid}: depends_on lists {dep.on} twice; keeping the first")
        elif dep is not None:
            found[dep.on] = dep
    return tuple(found.values()), tuple(problems)


def _resolve_container(ref: str, containers: Mapping[str, str]) -> ServiceId | None:
    ref = ref.lstrip("/")
    exact = containers.get(ref, containers.get(f"/{ref}"))
    if exact is not None:
        return ServiceId(exact)
    if len(ref) < _MIN_ID_PREFIX:
        return None
    matches = {
        svc
        for key, svc in containers.items()
        if len(key) >= _MIN_ID_PREFIX and (key.startswith(ref) or ref.startswith(key))
    }
    return ServiceId(matches.pop()) if len(matches) == 1 else None


def parse_network_mode(
    service: str, mode: str, containers: Mapping[str, str] | None = None
) -> tuple[ServiceId | None, str | None]:
    """The service whose network namespace ``service`` joins (or None), and a problem if any."""
    kind, _, ref = mode.strip().partition(":")
    where = f"{service}: network_mode {mode!r}"
    if kind == "service":
        if not _NAME.fullmatch(ref):
            return None, f"{where}: {ref!r} is not a service name; ignored"
        target = sibling(service, ref)
    elif kind == "container":
        found = _resolve_container(ref, containers or {}) if ref else None
        if found is None:
            return None, f"{where}: no known container {ref!r}; ignored"
        target = found
    else:
        return None, None  # bridge, host, none, a named network: no namespace sharing
    return (None, None) if target == service else (target, None)


def _reachable(
    start: ServiceId, edges: Mapping[ServiceId, tuple[ServiceId, ...]]
) -> frozenset[ServiceId]:
    seen: set[ServiceId] = set()
    stack = list(edges.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return frozenset(seen)


def _topological(
    nodes: Iterable[ServiceId],
    deps: Mapping[ServiceId, tuple[ServiceId, ...]],
    component: Mapping[ServiceId, frozenset[ServiceId]],
) -> list[ServiceId]:
    """Dependencies first; each cycle is one block, its members by id; ties broken by id."""
    comps = {component.get(n, frozenset({n})) for n in nodes}
    needs = {c: {component[d] for m in c for d in deps.get(m, ())} - {c} for c in comps}
    users: dict[frozenset[ServiceId], list[frozenset[ServiceId]]] = {c: [] for c in comps}
    for comp, required in needs.items():
        for dep in required:
            users[dep].append(comp)
    ready = [(min(c), c) for c in comps if not needs[c]]
    heapq.heapify(ready)
    order: list[ServiceId] = []
    while ready:
        _, comp = heapq.heappop(ready)
        order.extend(sorted(comp))
        for user in users[comp]:
            needs[user].discard(comp)
            if not needs[user]:
                heapq.heappush(ready, (min(user), user))
    return order


@dataclass(frozen=True)
class DependencyGraph:
    """Which service needs which; build it with :meth:`from_labels`."""

    services: frozenset[ServiceId] = frozenset()
    edges: tuple[Dependency, ...] = ()
    network_shares: tuple[tuple[ServiceId, ServiceId], ...] = ()
    """``(service, owner)``: ``service`` runs in ``owner``'s network namespace."""
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_labels(
        cls,
        labels: Mapping[str, Mapping[str, str]],
        network_mode: Mapping[str, str] | None = None,
        containers: Mapping[str, str] | None = None,
    ) -> DependencyGraph:
        """Graph of ``labels`` (service id -> its compose labels).

        ``network_mode`` maps a service id to its container's ``HostConfig.NetworkMode``;
        ``containers`` maps container ids and names to service ids, to resolve
        ``container:<id>`` modes.
        """
        edges: list[Dependency] = []
        problems: list[str] = []
        for service in sorted(labels):
            found, bad = parse_depends_on(service, labels[service].get(DEPENDS_ON_LABEL, ""))
            edges.extend(found)
            problems.extend(bad)
        shares = []
        for service, mode in sorted((network_mode or {}).items()):
            owner, problem = parse_network_mode(service, mode, containers)
            shares.extend([(ServiceId(service), owner)] if owner else [])
            problems.extend([problem] if problem else [])
        named = {ServiceId(s) for s in (*labels, *(network_mode or {}))}
        nodes = named | {e.on for e in edges} | {owner for _, owner in shares}
        graph = cls(frozenset(nodes), tuple(edges), tuple(shares))
        cycles = [
            f"dependency cycle among {', '.join(c)}; repaired in name order" for c in graph.cycles
        ]
        return replace(graph, problems=(*problems, *cycles))

    @cached_property
    def _deps(self) -> dict[ServiceId, tuple[ServiceId, ...]]:
        return _adjacency(self.services, self._pairs)

    @cached_property
    def _users(self) -> dict[ServiceId, tuple[ServiceId, ...]]:
        return _adjacency(self.services, {(on, s) for s, on in self._pairs})

    @cached_property
    def _pairs(self) -> set[tuple[ServiceId, ServiceId]]:
        """(service, what it needs): depends_on and network namespace owners."""
        return {(e.service, e.on) for e in self.edges} | set(self.network_shares)

    @cached_property
    def _reach(self) -> dict[ServiceId, frozenset[ServiceId]]:
        return {s: _reachable(s, self._deps) for s in self.services}

    @cached_property
    def _component(self) -> dict[ServiceId, frozenset[ServiceId]]:
        """Each service's strongly connected component: itself, or the cycle it sits in."""
        reach = self._reach
        return {s: frozenset({s} | {t for t in reach[s] if s in reach[t]}) for s in self.services}

    @cached_property
    def cycles(self) -> tuple[tuple[ServiceId, ...], ...]:
        """Every dependency cycle, as the sorted ids of its services."""
        return tuple(sorted({tuple(sorted(c)) for c in self._component.values() if len(c) > 1}))

    @cached_property
    def _order(self) -> tuple[ServiceId, ...]:
        return tuple(_topological(self.services, self._deps, self._component))

    def dependencies(self, service: str) -> tuple[ServiceId, ...]:
        """Direct dependencies (``depends_on`` and network namespace owner), sorted."""
        return self._deps.get(ServiceId(service), ())

    def transitive_dependencies(self, service: str) -> frozenset[ServiceId]:
        """Everything ``service`` needs, directly or through other services."""
        return self._reach.get(ServiceId(service), frozenset())

    def connected(self, service: str) -> frozenset[ServiceId]:
        """``service`` and every service linked to it by dependencies, in either direction
        and through any number of others. No decision about a service depends on a service
        outside this set, nor changes one."""
        start = ServiceId(service)
        seen, todo = {start}, [start]
        while todo:
            s = todo.pop()
            for n in (*self._deps.get(s, ()), *self._users.get(s, ())):
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return frozenset(seen)

    def dependents(self, service: str) -> tuple[ServiceId, ...]:
        """Services that directly depend on ``service``, sorted."""
        return tuple(sorted(self._users.get(ServiceId(service), ())))

    def restart_on_dependency(self, service: str, dependency: str) -> bool:
        """Whether ``service`` declared ``restart: true`` on ``dependency``."""
        return any(e.service == service and e.on == dependency and e.restart for e in self.edges)

    def is_one_shot(self, service: str) -> bool:
        """Some service waits for ``service`` with ``service_completed_successfully``."""
        return any(
            e.on == service and e.condition == "service_completed_successfully" for e in self.edges
        )

    def is_awaited_healthy(self, service: str) -> bool:
        """Some service waits for ``service`` with ``service_healthy``."""
        return any(e.on == service and e.condition == "service_healthy" for e in self.edges)

    def shares_network_with(self, service: str) -> ServiceId | None:
        """The service whose network namespace ``service`` runs in, if any."""
        return next((owner for s, owner in self.network_shares if s == service), None)

    def repair_order(self, services: Iterable[str]) -> list[ServiceId]:
        """``services`` with every dependency (even an indirect one) before its dependents.

        Services in a cycle come out together, by id; see :attr:`cycles`.
        """
        wanted = {ServiceId(s) for s in services}
        order = self._order
        if not wanted <= self.services:
            order = tuple(_topological(self.services | wanted, self._deps, self._component))
        return [s for s in order if s in wanted]

    def blocking_dependency(self, service: str, down: Collection[str]) -> ServiceId | None:
        """The most upstream transitive dependency of ``service`` that is ``down``, if any.

        Services in the same cycle as ``service`` never block it, or neither could be repaired.
        A one-shot dependency that completed (``service_completed_successfully``) is not down.
        """
        sid = ServiceId(service)
        blockers = self._reach.get(sid, frozenset()) - self._component.get(sid, frozenset())
        return next((s for s in self._order if s in blockers and s in down), None)

    def dependents_to_restart(self, dependency: str) -> list[tuple[ServiceId, RestartHow]]:
        """Direct dependents to bounce once ``dependency`` is healthy again, in repair order.

        ``restart`` for those that declared ``restart: true``; ``recreate`` for those running
        in its network namespace, which died with it. Their own dependents follow when they, in
        turn, come back healthy.
        """
        how: dict[ServiceId, RestartHow] = {
            e.service: "restart" for e in self.edges if e.on == dependency and e.restart
        }
        how.update({s: "recreate" for s, owner in self.network_shares if owner == dependency})
        return [(s, how[s]) for s in self._order if s in how]


def _adjacency(
    nodes: frozenset[ServiceId], pairs: set[tuple[ServiceId, ServiceId]]
) -> dict[ServiceId, tuple[ServiceId, ...]]:
    """Each node's targets in `pairs`, sorted; one pass over the pairs (O(N + E)): an event
    probe reads the graph of a 100-service project on every event of a mass failure."""
    out: dict[ServiceId, list[ServiceId]] = {n: [] for n in nodes}
    for a, b in pairs:
        out.setdefault(a, []).append(b)
    return {n: tuple(sorted(targets)) for n, targets in out.items()}
