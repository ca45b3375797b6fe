"""Pure translation from a live container's inspect payload to a create body.

One mechanism for two jobs, redone from the live container because the healer has no
compose file:
- a new replica n, as `docker compose up --scale` makes it: same image, command,
  environment, labels, host config and networks; a fresh identity (name, hostname, container
  number, anonymous volumes);
- the same container recreated, as `docker compose up --force-recreate` does: same name,
  number, labels, mounts (anonymous volumes inherited, as compose does), networks with their
  static addresses; a namespace sharer is re-pointed at its owner's new id.
No I/O here, so every rule is unit-tested on recorded payloads. It lives in the Docker adapter
because a clone copies the payload whole: nothing above the adapter reads one.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from healer.adapters.docker import state
from healer.core.compose_labels import (
    NUMBER_LABEL,
    REPLACE_LABEL,
    SERVICE_LABEL,
    name_separator,
)

# Docker names anonymous volumes with 64 hex digits; named volumes are `<project>_<name>`.
_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")
_SHARED_NETNS = ("host", "none")


def fixed_host_ports(info: dict[str, Any]) -> list[str]:
    """Published ports bound to one fixed host port: a second replica could not bind them."""
    return list(state.fixed_host_ports(info.get("HostConfig") or {}))


# A service whose replicas may share its named volumes and writable bind mounts (a stateless
# cache, an append-only log folder). Without it, cloning such a service is refused: two
# Postgres on one data volume corrupt it.
SHARED_STORAGE_LABEL = "healer.scale.shared_storage"


def shared_writable_storage(info: dict[str, Any]) -> list[str]:
    """Named volumes and bind mounts a replica would share writable with the template.

    Anonymous volumes are per replica and read-only mounts cannot be corrupted by a second
    writer, so neither counts."""
    shared = []
    for m in info.get("Mounts") or []:
        if not m.get("RW", True):
            continue
        kind = m.get("Type")
        name = str(m.get("Name") or "")
        if kind == "volume" and not _ANONYMOUS.match(name):
            shared.append(f"volume {name}:{m.get('Destination')}")
        elif kind == "bind":
            shared.append(f"bind {m.get('Source')}:{m.get('Destination')}")
    return shared


def shared_storage_allowed(info: dict[str, Any]) -> bool:
    labels = (info.get("Config") or {}).get("Labels") or {}
    return str(labels.get(SHARED_STORAGE_LABEL, "")).strip().lower() == "true"


def scale_blockers(info: dict[str, Any], project: str, service: str) -> list[str]:
    """Why this service cannot get more replicas, in words an operator can act on."""
    problems = []
    shared = shared_writable_storage(info)
    if shared and not shared_storage_allowed(info):
        problems.append(
            f"service mounts storage every replica would share writable ({', '.join(shared)}): "
            f"set the label {SHARED_STORAGE_LABEL}=true if concurrent writers are safe"
        )
    if name_separator(str(info.get("Name", "")), project, service) is None:
        problems.append(
            f"service sets container_name ({str(info.get('Name', '')).lstrip('/')}): "
            "replicas need distinct names; remove container_name to scale it"
        )
    ports = fixed_host_ports(info)
    if ports:
        problems.append(
            f"service publishes fixed host ports ({', '.join(ports)}): a second replica "
            "could not bind them; publish a range (8000-8010:80) or no host port"
        )
    return problems


def network_mode(info: dict[str, Any]) -> str:
    return str((info.get("HostConfig") or {}).get("NetworkMode") or "default")


def _owns_network(mode: str) -> bool:
    """False when the container shares another namespace (host, none, container:X)."""
    return mode not in _SHARED_NETNS and not mode.startswith(("container:", "service:"))


def _default_hostname(info: dict[str, Any]) -> bool:
    """Docker's default hostname is the short id; a compose `hostname:` is kept as set."""
    hostname = (info.get("Config") or {}).get("Hostname", "")
    return not hostname or str(info.get("Id", "")).startswith(hostname)


@dataclass(frozen=True)
class Identity:
    """Who the new container is.

    `replaces`: the same container recreated (keeps anonymous volumes, static addresses and
    MAC); else a new replica. `network_mode`: a new NetworkMode (a namespace sharer whose
    owner was recreated and has a new id)."""

    name: str
    number: int
    image: str
    replaces: bool = False
    network_mode: str | None = None


def replica_config(info: dict[str, Any], number: int, image: str) -> dict[str, Any]:
    """The `Config` part of replica `number`: as the template, with its own number and host."""
    return container_config(info, Identity("", number, image))


def container_config(info: dict[str, Any], ident: Identity) -> dict[str, Any]:
    cfg = copy.deepcopy(info.get("Config") or {})
    mode = ident.network_mode or network_mode(info)
    if _default_hostname(info) or not _owns_network(mode):
        cfg.pop("Hostname", None)  # let the engine give the new container its own
    if not ident.replaces or not _owns_network(mode):
        cfg.pop("MacAddress", None)  # two replicas with one MAC would collide on a bridge
    cfg["Image"] = ident.image
    labels = dict(cfg.get("Labels") or {})
    labels[NUMBER_LABEL] = str(ident.number)
    labels.pop(REPLACE_LABEL, None)
    if ident.replaces:
        labels[REPLACE_LABEL] = f"{labels.get(SERVICE_LABEL, '')}-{ident.number}"
    cfg["Labels"] = labels
    return cfg


def _fresh_mounts(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for mount in mounts:
        m = dict(mount)
        if m.get("Type") == "volume" and _ANONYMOUS.match(str(m.get("Source") or "")):
            m.pop("Source")  # anonymous volumes are per container: the engine makes a new one
        out.append(m)
    return out


def _split_binds(binds: list[str]) -> tuple[list[str], list[str]]:
    """(binds to keep, targets of anonymous volumes to create fresh)."""
    keep, anonymous = [], []
    for bind in binds:
        source, _, rest = bind.partition(":")
        if _ANONYMOUS.match(source):
            anonymous.append(rest.partition(":")[0])
        else:
            keep.append(bind)  # named volumes and host paths are shared, as compose shares them
    return keep, anonymous


def _relink(links: list[str], old_name: str, new_name: str) -> list[str]:
    """Legacy links are stored as `/target:/<own name>/alias`; point them at the new name."""
    own = f"/{old_name}/"
    return [
        f"{src}:/{new_name}/{dst[len(own) :]}" if dst.startswith(own) else f"{src}:{dst}"
        for src, _, dst in (link.partition(":") for link in links)
    ]


def replica_host_config(info: dict[str, Any], new_name: str) -> tuple[dict[str, Any], list[str]]:
    """(`HostConfig`, anonymous volume targets to add to `Config.Volumes`) of a replica."""
    return host_config(info, Identity(new_name, 0, ""))


def host_config(info: dict[str, Any], ident: Identity) -> tuple[dict[str, Any], list[str]]:
    host = copy.deepcopy(info.get("HostConfig") or {})
    if ident.network_mode:
        host["NetworkMode"] = ident.network_mode
    if ident.replaces:
        return host, []  # the same mounts: compose inherits anonymous volumes on recreate
    host["Mounts"] = _fresh_mounts(host.get("Mounts") or []) or None
    keep, anonymous = _split_binds(host.get("Binds") or [])
    host["Binds"] = keep or None
    if host.get("Links"):
        old = str(info.get("Name", "")).lstrip("/")
        host["Links"] = _relink(host["Links"], old, ident.name)
    return host, anonymous


def _aliases(
    endpoint: dict[str, Any], info: dict[str, Any], new_name: str, service: str
) -> list[str]:
    old_name = str(info.get("Name", "")).lstrip("/")
    cid = str(info.get("Id", ""))
    own = {old_name, cid, cid[:12]}
    kept = [a for a in endpoint.get("Aliases") or [] if a not in own]
    return [new_name, *dict.fromkeys([service, *kept])]


def endpoints(
    info: dict[str, Any], new_name: str, service: str, replaces: bool = False
) -> dict[str, dict[str, Any]]:
    """Network name → endpoint config, the network of NetworkMode first. Static IPs and MAC
    addresses are kept only when the container is recreated: a replica cannot share them."""
    mode = network_mode(info)
    if not _owns_network(mode) or mode in ("default", "bridge"):
        return {}  # no user network: nothing to attach (the default bridge takes no aliases)
    nets = (info.get("NetworkSettings") or {}).get("Networks") or {}
    ordered = sorted(nets, key=lambda n: n != mode)
    out: dict[str, dict[str, Any]] = {}
    for net in ordered:
        ep = nets[net] or {}
        cfg: dict[str, Any] = {"Aliases": _aliases(ep, info, new_name, service)}
        if ep.get("Links"):
            cfg["Links"] = ep["Links"]
        if ep.get("DriverOpts"):
            cfg["DriverOpts"] = ep["DriverOpts"]
        if replaces and ep.get("IPAMConfig"):
            cfg["IPAMConfig"] = ep["IPAMConfig"]
        out[net] = cfg
    return out


def create_body(
    info: dict[str, Any], number: int, new_name: str, service: str, image: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(body for POST /containers/create, endpoints to connect after creating) of replica n."""
    return build_body(info, Identity(new_name, number, image), service)


def recreate_body(
    info: dict[str, Any], image: str, network_mode_override: str | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The same as `create_body`, for the container itself recreated (same name, number)."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    try:
        number = int(labels.get(NUMBER_LABEL, "1"))
    except ValueError:
        number = 1
    name = str(info.get("Name", "")).lstrip("/")
    ident = Identity(name, number, image, replaces=True, network_mode=network_mode_override)
    return build_body(info, ident, str(labels.get(SERVICE_LABEL, "")))


def build_body(
    info: dict[str, Any], ident: Identity, service: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """API < 1.44 takes one network at create time, so the first endpoint goes in the body and
    the rest are connected before the container starts."""
    cfg = container_config(info, ident)
    host, anonymous = host_config(info, ident)
    if anonymous:
        cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{t: {} for t in anonymous}}
    body: dict[str, Any] = {**cfg, "HostConfig": host}
    if ident.network_mode:
        info = {**info, "HostConfig": host}  # endpoints follow the new mode
    eps = endpoints(info, ident.name, service, ident.replaces)
    first = next(iter(eps), None)
    if first is not None:
        body["NetworkingConfig"] = {"EndpointsConfig": {first: eps.pop(first)}}
    return body, eps


def namespace_sharer(info: dict[str, Any], owner_id: str, owner_name: str) -> bool:
    """Does this container live in the network namespace of the owner?"""
    mode = network_mode(info)
    return mode in (f"container:{owner_id}", f"container:{owner_name}")
