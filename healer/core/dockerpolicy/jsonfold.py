"""Read a request body the way the Docker engine does, or refuse it.

Go's encoding/json matches an object's keys to struct fields case-insensitively (with
Unicode simple folding: the long s is an `s`, the Kelvin sign a `k`), and when two keys name one
field the last one wins. A proxy that reads `Privileged` while the engine reads `privileged`
is no proxy: so struct keys are folded here, two keys that fold alike are refused, and so is
any non-ASCII struct key, whatever Go would make of it. The proxy forwards the body it
re-encodes from what it checked, never the bytes it received.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class BodyError(ValueError):
    """The body is not one the proxy can read exactly as the engine would."""


def _no_constant(name: str) -> Any:
    raise BodyError(f"{name} is not JSON")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BodyError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse(raw: bytes) -> dict[str, Any]:
    """A JSON object, strictly: UTF-8, no NaN/Infinity, no duplicate key."""
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_pairs, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise BodyError("body is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise BodyError(f"body is not JSON ({exc.msg} at {exc.pos})") from exc
    if not isinstance(doc, dict):
        raise BodyError("body is not a JSON object")
    return doc


def fold(obj: object, where: str = "body") -> dict[str, Any]:
    """A struct-level object with its keys lower-cased (values untouched); `{}` for null.

    Refuses what Go and Python could read differently: a non-ASCII key, or two keys that
    name the same field."""
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        raise BodyError(f"{where} is not an object")
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not key.isascii():
            raise BodyError(f"{where} has a non-ASCII key {key!r}")
        low = key.lower()
        if low in out:
            raise BodyError(f"{where} names {key!r} twice (keys are case-insensitive)")
        out[low] = value
    return out


def deep_fold(obj: object, where: str = "body") -> object:
    """Every object key folded at every depth: for comparing two values, never to forward."""
    if isinstance(obj, Mapping):
        return {k: deep_fold(v, f"{where}.{k}") for k, v in fold(obj, where).items()}
    if isinstance(obj, list):
        return [deep_fold(v, where) for v in obj]
    return obj


def empty(value: object) -> bool:
    """Go's zero value (null, false, 0, "", [] or {}): what the engine treats as unset."""
    return value is None or value is False or value == 0 or value == "" or value in ([], {})
