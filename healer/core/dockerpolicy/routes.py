"""Which Docker API call a request is, and the worker level's verdict on its route alone.

The path is matched after percent-decoding (as the engine's router matches it) against a
small grammar: an optional `/v<version>` prefix, then one of the calls the worker makes.
Anything else is refused here, before any body is read. The proxy forwards the path it
rebuilt from the match, never the one it received.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote


class Kind(Enum):
    READ = "read"  # forwarded as is (GET/HEAD of state, no container contents)
    CREATE = "create"  # the body must be a clone
    LIFECYCLE = "lifecycle"  # the container must be managed
    REMOVE = "remove"  # managed, or stopped and in no compose project
    CONNECT = "connect"  # a managed container onto one of its service's networks
    REMOVE_IMAGE = "remove-image"  # an untagged image only
    PRUNE_BUILD = "prune-build"  # unused build cache only


_VERSION = r"(?P<version>/v[0-9]+(?:\.[0-9]+)?)?"
_ID = r"(?P<ref>[a-zA-Z0-9][a-zA-Z0-9_.-]*)"
_IMAGE = r"(?P<ref>[a-zA-Z0-9][a-zA-Z0-9_.:@/-]*)"

_ROUTES: Sequence[tuple[str, str, Kind]] = (
    (
        "GET",
        r"/(?P<what>_ping|version|info|events|containers/json|images/json|system/df)",
        Kind.READ,
    ),
    ("HEAD", r"/(?P<what>_ping)", Kind.READ),
    ("GET", rf"/containers/{_ID}/(?P<what>json|stats)", Kind.READ),
    ("GET", rf"/images/{_IMAGE}/(?P<what>json)", Kind.READ),
    ("POST", r"/containers/(?P<what>create)", Kind.CREATE),
    ("POST", rf"/containers/{_ID}/(?P<what>start|stop|restart|kill|rename)", Kind.LIFECYCLE),
    ("DELETE", rf"/containers/{_ID}", Kind.REMOVE),
    ("POST", rf"/networks/{_ID}/(?P<what>connect)", Kind.CONNECT),
    ("DELETE", rf"/images/{_IMAGE}", Kind.REMOVE_IMAGE),
    ("POST", r"/build/(?P<what>prune)", Kind.PRUNE_BUILD),
)
_COMPILED = [(m, re.compile(_VERSION + p), k) for m, p, k in _ROUTES]


@dataclass(frozen=True)
class Call:
    kind: Kind
    ref: str  # the container, network or image the call names ("" for none)
    path: str  # the path to forward, rebuilt from the match
    ref_at: int = -1  # where `ref` starts in `path`

    def naming(self, target: str) -> str:
        """The path with `ref` replaced by `target` (an id the proxy resolved): the call acts
        on the object that was checked even if a name moves in between."""
        if self.ref_at < 0:
            return self.path
        end = self.ref_at + len(quote(self.ref, safe=":@/"))
        return self.path[: self.ref_at] + quote(target, safe=":@/") + self.path[end:]


def _clean(path: str) -> bool:
    parts = path.split("/")[1:]
    return path.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def match(method: str, path: str) -> Call | None:
    """The call, or None when the worker level never makes it."""
    if not _clean(path):
        return None
    for want, pattern, kind in _COMPILED:
        found = pattern.fullmatch(path) if method == want else None
        if found is None:
            continue
        ref = found.groupdict().get("ref") or ""
        if ".." in ref:
            return None
        at = found.start("ref") if ref else -1
        rebuilt = path if not ref else path[:at] + quote(ref, safe=":@/") + path[found.end("ref") :]
        return Call(kind, ref, rebuilt, at)
    return None


def truthy(value: str | None) -> bool:
    """A query flag as the engine reads it (httputils.BoolValue)."""
    return (value or "").strip().lower() not in ("", "0", "no", "false", "none")
