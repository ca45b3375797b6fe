"""Does a create's `HostConfig` grant anything beyond an existing container's?

Each rule compares one field of the request with the same field of the reference (an
existing container of the same service, as the engine reports it). A field without a rule
must equal the reference's or be unset: an unknown field can never widen access.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from healer.core.dockerpolicy.jsonfold import deep_fold, empty, fold

ProjectOf = Callable[[str], str | None]
"""The compose project of a container (by id or name); None when it has none or is gone."""

Rule = Callable[[Any, Any, "Context"], str | None]


class Context:
    def __init__(self, project: str, project_of: ProjectOf) -> None:
        self.project = project
        self.project_of = project_of


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _subset(what: str) -> Rule:
    def rule(req: Any, ref: Any, ctx: Context) -> str | None:
        allowed = [deep_fold(v) for v in _list(ref)]
        extra = [v for v in _list(req) if deep_fold(v) not in allowed]
        return f"{what} {extra!r} not in the service's own" if extra else None

    return rule


def _flag(what: str) -> Rule:
    def rule(req: Any, ref: Any, ctx: Context) -> str | None:
        return f"{what} is set" if req is True and ref is not True else None

    return rule


def _cap(name: object) -> str:
    text = str(name).strip().upper()
    return text.removeprefix("CAP_")


def _cap_add(req: Any, ref: Any, ctx: Context) -> str | None:
    own = {_cap(c) for c in _list(ref)}
    extra = sorted({_cap(c) for c in _list(req)} - own)
    if extra and "ALL" not in own:
        return f"capabilities {extra} added"
    return None


def _cap_drop(req: Any, ref: Any, ctx: Context) -> str | None:
    asked = {_cap(c) for c in _list(req)}
    kept = sorted({_cap(c) for c in _list(ref)} - asked)
    return f"capabilities {kept} not dropped" if kept and "ALL" not in asked else None


_NNP = ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true")


def _norm_opt(opt: object) -> str:
    text = str(opt).strip()
    return "no-new-privileges" if text in _NNP else text


def _security_opt(req: Any, ref: Any, ctx: Context) -> str | None:
    asked, own = {_norm_opt(o) for o in _list(req)}, {_norm_opt(o) for o in _list(ref)}
    if asked != own:
        return f"security options {sorted(asked)} differ from the service's {sorted(own)}"
    return None


def _paths(what: str) -> Rule:
    """Masked/read-only paths: null means the engine's defaults; a list replaces them."""

    def rule(req: Any, ref: Any, ctx: Context) -> str | None:
        if req is None:
            return None
        missing = sorted(set(map(str, _list(ref))) - set(map(str, _list(req))))
        if ref is None or missing:
            return f"{what} {missing or 'defaults'} no longer applied"
        return None

    return rule


def _sysctls(req: Any, ref: Any, ctx: Context) -> str | None:
    own = dict(ref) if isinstance(ref, dict) else {}
    asked = dict(req) if isinstance(req, dict) else {}
    extra = sorted(k for k, v in asked.items() if own.get(k) != v)
    return f"sysctls {extra} not the service's" if extra else None


def _wide(mode: str) -> bool:
    return mode == "host" or mode.startswith(("container:", "service:"))


def _namespace(what: str, empty_is_narrow: bool = True) -> Rule:
    """host or container:X only as the service has it; the engine's default otherwise."""

    def rule(req: Any, ref: Any, ctx: Context) -> str | None:
        asked, own = str(req or ""), str(ref or "")
        if asked == own or (asked.startswith("container:") and _joins_own(asked, own, ctx)):
            return None
        if not _wide(asked) and (asked or empty_is_narrow):
            return None
        return f"{what} {asked or 'default'!r} where the service has {own or 'default'!r}"

    return rule


def _joins_own(asked: str, own: str, ctx: Context) -> bool:
    """container:X where the service shares a namespace too, X in the same project: a
    recreated sharer re-pointed at its owner's new container."""
    target = asked.partition(":")[2]
    return own.startswith("container:") and bool(target) and ctx.project_of(target) == ctx.project


def _network_mode(req: Any, ref: Any, ctx: Context) -> str | None:
    asked, own = str(req or "default"), str(ref or "default")
    default = {"default", "bridge"}
    if asked == own or (asked in default and own in default):
        return None
    if asked.startswith("container:") and _joins_own(asked, own, ctx):
        return None
    return f"network mode {asked!r} where the service has {own!r}"


def _links(req: Any, ref: Any, ctx: Context) -> str | None:
    """Legacy links as `/target:/<own name>/alias`: the target must be one the service links."""
    own = {str(link).partition(":")[0] for link in _list(ref)}
    extra = sorted({str(link).partition(":")[0] for link in _list(req)} - own)
    return f"links to {extra}" if extra else None


def _mounts(req: Any, ref: Any, ctx: Context) -> str | None:
    own = [deep_fold(m) for m in _list(ref)]
    for mount in _list(req):
        m = deep_fold(mount)
        if m in own or _fresh_volume(m, own):
            continue
        return f"mount {mount!r} is not one of the service's"
    return None


def _fresh_volume(m: object, own: list[object]) -> bool:
    """A new anonymous volume where the service has one at the same target (a replica's)."""
    if not isinstance(m, dict) or m.get("type") != "volume" or m.get("source"):
        return False
    bare = {k: v for k, v in m.items() if k != "source"}
    return any(
        isinstance(o, dict) and {k: v for k, v in o.items() if k != "source"} == bare for o in own
    )


def _port_bindings(req: Any, ref: Any, ctx: Context) -> str | None:
    own = ref if isinstance(ref, dict) else {}
    asked = req if isinstance(req, dict) else {}
    for port, hosts in asked.items():
        allowed = [deep_fold(h) for h in _list(own.get(port))]
        if any(deep_fold(h) not in allowed for h in _list(hosts)):
            return f"port {port} published as {hosts!r}, not as the service publishes it"
    return None


def _ulimits(req: Any, ref: Any, ctx: Context) -> str | None:
    return _subset("ulimits")(req, ref, ctx)


RULES: dict[str, Rule] = {
    "privileged": _flag("privileged"),
    "publishallports": _flag("publish all ports"),
    "binds": _subset("binds"),
    "mounts": _mounts,
    "volumesfrom": _subset("volumes from"),
    "capadd": _cap_add,
    "capdrop": _cap_drop,
    "devices": _subset("devices"),
    "devicecgrouprules": _subset("device cgroup rules"),
    "devicerequests": _subset("device requests"),
    "groupadd": _subset("groups"),
    "securityopt": _security_opt,
    "sysctls": _sysctls,
    "maskedpaths": _paths("masked paths"),
    "readonlypaths": _paths("read-only paths"),
    "pidmode": _namespace("pid namespace"),
    "ipcmode": _namespace("ipc namespace"),
    "utsmode": _namespace("uts namespace"),
    "usernsmode": _namespace("user namespace"),
    # An empty cgroupns mode is the daemon's default, which is the host's on cgroup v1.
    "cgroupnsmode": _namespace("cgroup namespace", empty_is_narrow=False),
    "networkmode": _network_mode,
    "links": _links,
    "portbindings": _port_bindings,
    "ulimits": _ulimits,
}


def _read_only_rootfs(req: dict[str, Any], ref: dict[str, Any]) -> str | None:
    if ref.get("readonlyrootfs") is True and req.get("readonlyrootfs") is not True:
        return "root filesystem writable where the service's is read-only"
    return None


def _same_or_unset(asked: object, own: object) -> bool:
    return empty(asked) or deep_fold(asked) == deep_fold(own)


def host_config_refusal(req: object, ref: object, ctx: Context) -> str | None:
    """Why the requested HostConfig grants more than the reference's; None when it does not."""
    asked, own = fold(req, "HostConfig"), fold(ref, "reference HostConfig")
    reasons = [_read_only_rootfs(asked, own)]
    for key in sorted(set(asked) | set(RULES)):
        rule = RULES.get(key)
        if rule is not None:
            reasons.append(rule(asked.get(key), own.get(key), ctx))
        elif key != "readonlyrootfs" and not _same_or_unset(asked[key], own.get(key)):
            reasons.append(f"HostConfig.{key} differs from the service's")
    return next((r for r in reasons if r), None)
