"""The worker's answer to `celery inspect conf`, which Flower shows as a worker's Config tab.

Celery masks the broker URL and result backend there, but not a setting it does not know:
`redbeat_redis_url` (RedBeat's lock and schedule store) carries the Redis password in the
clear. This replaces the built-in command with one that masks the password of every URL-like
value, whatever its key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from celery.utils.serialization import jsonify, strtobool
from celery.worker.control import inspect_command
from kombu.utils.encoding import safe_repr

MASK = "********"


def masked(value: object) -> object:
    """`redis://:secret@redis:6379/0` → `redis://:********@redis:6379/0`; others as they are."""
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if not isinstance(value, str) or "://" not in value or "@" not in value:
        return value
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return MASK
    if not password:
        return value
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


@inspect_command(
    alias="dump_conf",
    signature="[include_defaults=False]",
    args=[("with_defaults", strtobool)],
)
def conf(state: Any, with_defaults: bool = False, **kwargs: Any) -> dict[str, Any]:
    """List configuration, every password masked."""
    table = state.app.conf.table(with_defaults=with_defaults)
    wanted = {
        k: masked(v) for k, v in table.items() if isinstance(k, str) and not k.startswith("__")
    }
    out: dict[str, Any] = jsonify(wanted, unknown_type_filter=safe_repr)
    return out
