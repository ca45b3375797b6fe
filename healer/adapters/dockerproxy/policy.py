"""The worker level's verdict on one call: the route, its query, its body and, for writes,
what the engine says about the container, image or service it names."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from healer.adapters.dockerproxy.engine import EngineReader, labels_of
from healer.core.compose_labels import PROJECT_LABEL, SERVICE_LABEL
from healer.core.dockerpolicy.clone import clone_refusal, ipam_within, read_create
from healer.core.dockerpolicy.jsonfold import BodyError, fold, parse
from healer.core.dockerpolicy.routes import Call, Kind, truthy


@dataclass(frozen=True)
class Verdict:
    refusal: str | None  # why the call is refused; None to forward it
    body: bytes = b""  # what to forward: re-encoded from what was checked
    target: str = ""  # the id the call's name resolved to: what is forwarded instead


def _refuse(reason: str) -> Verdict:
    return Verdict(reason)


class Policy:
    def __init__(self, engine: EngineReader, projects: Collection[str]) -> None:
        self.engine = engine
        self.projects = frozenset(projects)

    def managed(self, labels: Mapping[str, str]) -> bool:
        project = labels.get(PROJECT_LABEL)
        return bool(project) and (not self.projects or project in self.projects)

    async def decide(self, call: Call, query: Mapping[str, str], raw: bytes) -> Verdict:
        if call.kind not in (Kind.CREATE, Kind.CONNECT) and raw.strip():
            return _refuse(f"{call.kind.value} calls take no body")
        try:
            return await self._decide(call, query, raw)
        except BodyError as exc:
            return _refuse(str(exc))

    async def _decide(self, call: Call, query: Mapping[str, str], raw: bytes) -> Verdict:
        match call.kind:
            case Kind.READ:
                return Verdict(None)
            case Kind.CREATE:
                return await self._create(parse(raw))
            case Kind.LIFECYCLE:
                return await self._lifecycle(call.ref)
            case Kind.REMOVE:
                return await self._remove(call.ref, query)
            case Kind.CONNECT:
                return await self._connect(call.ref, parse(raw))
            case Kind.REMOVE_IMAGE:
                return await self._remove_image(call.ref, query)
            case Kind.PRUNE_BUILD:
                return (
                    _refuse("pruning all build cache")
                    if truthy(query.get("all"))
                    else Verdict(None)
                )
        return _refuse("unknown call")

    async def _create(self, body: dict[str, Any]) -> Verdict:
        req = read_create(body)
        if not req.project or not req.service:
            return _refuse("create without the compose project and service labels")
        if not self.managed({PROJECT_LABEL: req.project}):
            return _refuse(f"project {req.project!r} is not managed")
        refs = await self.engine.service(req.project, req.service)
        projects: dict[str, str | None] = {}  # container:X targets, read once each

        def project_of(ref: str) -> str | None:
            return projects.get(ref)

        for target in _namespace_targets(req.host):
            projects[target] = labels_of(await self.engine.container(target)).get(PROJECT_LABEL)
        refusal = clone_refusal(req, refs, project_of)
        return _refuse(refusal) if refusal else Verdict(None, json.dumps(body).encode())

    async def _lifecycle(self, ref: str) -> Verdict:
        info = await self.engine.container(ref)
        if info is None:
            return Verdict(None)  # the engine answers 404 itself
        if not self.managed(labels_of(info)):
            return _refuse(f"container {ref!r} is not in a managed compose project")
        return Verdict(None, target=str(info.get("Id", "")))

    async def _remove(self, ref: str, query: Mapping[str, str]) -> Verdict:
        if truthy(query.get("v")) or truthy(query.get("link")):
            return _refuse("removing volumes or links")
        info = await self.engine.container(ref)
        if info is None:
            return Verdict(None)
        target = str(info.get("Id", ""))
        if self.managed(labels_of(info)):
            return Verdict(None, target=target)
        state = info.get("State") or {}
        if PROJECT_LABEL in labels_of(info):
            return _refuse(f"container {ref!r} is in a compose project the healer does not manage")
        if truthy(query.get("force")) or state.get("Running") or state.get("Restarting"):
            return _refuse(f"container {ref!r} is running and in no managed project")
        return Verdict(None, target=target)  # cleanup: a stopped container of no project

    async def _connect(self, network: str, body: dict[str, Any]) -> Verdict:
        req = fold(body)
        ref = str(req.get("container") or "")
        info = await self.engine.container(ref) if ref else None
        labels = labels_of(info)
        if info is None or not self.managed(labels):
            return _refuse(f"container {ref!r} is not in a managed compose project")
        if ref != info.get("Id"):  # the healer connects by id; a name could move meanwhile
            return _refuse("network connect names its container by full id only")
        siblings = await self.engine.service(labels[PROJECT_LABEL], labels.get(SERVICE_LABEL, ""))
        others = [s for s in siblings if s.get("Id") != info.get("Id")]
        ipam = fold(req.get("endpointconfig"), "EndpointConfig").get("ipamconfig")
        if not any(_on_network(s, network, ipam) for s in others):
            return _refuse(f"network {network!r} (or its address) is not one of the service's")
        return Verdict(None, json.dumps(body).encode())

    async def _remove_image(self, ref: str, query: Mapping[str, str]) -> Verdict:
        if truthy(query.get("force")):
            return _refuse("forcing an image removal")
        info = await self.engine.image(ref)
        tags = [t for t in (info or {}).get("RepoTags") or [] if t != "<none>:<none>"]
        if tags:
            return _refuse(f"image {ref!r} is tagged {tags}")
        return Verdict(None, target=str((info or {}).get("Id", "")))


def _namespace_targets(host: object) -> list[str]:
    folded = fold(host, "HostConfig")
    out = []
    for key in ("networkmode", "pidmode", "ipcmode"):
        mode = str(folded.get(key) or "")
        if mode.startswith("container:"):
            out.append(mode.partition(":")[2])
    return out


def _on_network(info: dict[str, Any], network: str, ipam: object) -> bool:
    nets = (info.get("NetworkSettings") or {}).get("Networks") or {}
    for name, ep in nets.items():
        ep = ep or {}
        if network in (name, ep.get("NetworkID")):
            return ipam_within(ipam, ep.get("IPAMConfig"))
    return False
