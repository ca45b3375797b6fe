"""Is a container create a clone of an existing container of the same managed service?

A scaled-up replica and a recreated container are built from an existing container's inspect
(healer.adapters.docker.container_spec): same image, command, user, environment, host config and
networks, with a fresh identity. Anything a create asks beyond that reference is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from healer.core.compose_labels import PROJECT_LABEL, SERVICE_LABEL
from healer.core.dockerpolicy.hostconfig import Context, ProjectOf, host_config_refusal
from healer.core.dockerpolicy.jsonfold import deep_fold, empty, fold

# What the container runs and as whom: a clone runs exactly the reference's. The healthcheck
# too: its command runs inside the container, with everything the container may reach.
_SAME_AS_REFERENCE = ("cmd", "entrypoint", "user", "workingdir", "env", "healthcheck", "shell")


@dataclass(frozen=True)
class CreateRequest:
    """The parts of a create body the proxy decides on (keys folded as Docker folds them)."""

    config: dict[str, Any]
    host: object
    endpoints: dict[str, Any]
    project: str
    service: str


def read_create(body: dict[str, Any]) -> CreateRequest:
    """The create body's parts; BodyError when it is not one the proxy can read exactly."""
    config = fold(body)
    labels = config.get("labels")
    labels = labels if isinstance(labels, dict) else {}
    networking = fold(config.get("networkingconfig"), "NetworkingConfig")
    endpoints = networking.get("endpointsconfig")
    return CreateRequest(
        config=config,
        host=config.get("hostconfig"),
        endpoints=dict(endpoints) if isinstance(endpoints, dict) else {},
        project=str(labels.get(PROJECT_LABEL) or ""),
        service=str(labels.get(SERVICE_LABEL) or ""),
    )


def _image_refusal(config: dict[str, Any], ref: dict[str, Any]) -> str | None:
    image = str(config.get("image") or "")
    own_name = str((ref.get("Config") or {}).get("Image") or "")
    if image and image in (own_name, str(ref.get("Image") or "")):
        return None
    return f"image {image!r} is not the service's ({own_name!r})"


def _config_refusal(config: dict[str, Any], ref: dict[str, Any]) -> str | None:
    own = fold(ref.get("Config"), "reference Config")
    for key in _SAME_AS_REFERENCE:
        asked, have = config.get(key), own.get(key)
        if (empty(asked) and empty(have)) or deep_fold(asked) == deep_fold(have):
            continue
        return f"{key} differs from the service's"
    return _image_refusal(config, ref) or _healer_labels_refusal(config, own)


def _healer_labels_refusal(config: dict[str, Any], own: dict[str, Any]) -> str | None:
    """The healer's own labels (`healer.*`: what alerts may do, how it scales) are the
    service's: a clone cannot give itself more."""

    def healer_labels(labels: object) -> dict[str, Any]:
        found = labels if isinstance(labels, dict) else {}
        return {k: v for k, v in found.items() if str(k).startswith("healer.")}

    if healer_labels(config.get("labels")) != healer_labels(own.get("labels")):
        return "healer.* labels differ from the service's"
    return None


def _endpoints_refusal(endpoints: dict[str, Any], ref: dict[str, Any]) -> str | None:
    own = (ref.get("NetworkSettings") or {}).get("Networks") or {}
    for net, endpoint in endpoints.items():
        if net not in own:
            return f"network {net!r} is not one of the service's"
        asked_ipam = fold(endpoint, f"endpoint {net}").get("ipamconfig")
        if not ipam_within(asked_ipam, (own[net] or {}).get("IPAMConfig")):
            return f"address on {net!r} is not the service's"
    return None


def ipam_within(asked: object, own: object) -> bool:
    """Every address the endpoint asks for is the one the reference has (none asked: any)."""
    have = fold(own, "reference IPAMConfig")
    return all(
        empty(v) or deep_fold(v) == deep_fold(have.get(k))
        for k, v in fold(asked, "IPAMConfig").items()
    )


def refusal_against(req: CreateRequest, ref: dict[str, Any], project_of: ProjectOf) -> str | None:
    """Why `req` is not a clone of the reference container; None when it is."""
    ctx = Context(req.project, project_of)
    return (
        _config_refusal(req.config, ref)
        or host_config_refusal(req.host, ref.get("HostConfig"), ctx)
        or _endpoints_refusal(req.endpoints, ref)
    )


def clone_refusal(
    req: CreateRequest, references: Sequence[dict[str, Any]], project_of: ProjectOf
) -> str | None:
    """None when some existing container of the service covers everything the create asks;
    else the reason against the first (compose's lowest-numbered) one."""
    if not references:
        return f"no existing container of {req.project}/{req.service} to clone"
    reasons = [refusal_against(req, ref, project_of) for ref in references]
    if any(r is None for r in reasons):
        return None
    return reasons[0]
