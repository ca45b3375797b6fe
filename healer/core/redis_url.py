"""The grammar of REDIS_URL: one server (`redis://…`) or a master found through Sentinel
(`sentinel://h1:26379;sentinel://h2:26379/0`, kombu's form). Pure parsing, so the settings
can check the URL without importing a Redis adapter (healer.adapters.redisha.target builds
the clients' options from it)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

SENTINEL_SCHEME = "sentinel"
DEFAULT_SENTINEL_PORT = 26379


class BadRedisUrl(ValueError):
    """REDIS_URL cannot be read; the message names what is wrong."""


def is_sentinel(url: str) -> bool:
    return url.startswith(f"{SENTINEL_SCHEME}://")


def validate(url: str) -> str:
    """The URL unchanged, or BadRedisUrl naming what is wrong."""
    if is_sentinel(url):
        sentinel_parts(url)
    return url


def sentinel_parts(url: str) -> list[tuple[str, int, int | None]]:
    """(host, port, db or None) of each `sentinel://` part."""
    out = []
    for chunk in url.split(";"):
        parts = urlsplit(chunk.strip())
        if parts.scheme != SENTINEL_SCHEME or not parts.hostname:
            raise BadRedisUrl(f"REDIS_URL part {redact_url(chunk)!r} is not sentinel://host:port")
        try:
            port = parts.port or DEFAULT_SENTINEL_PORT
        except ValueError as exc:
            raise BadRedisUrl(f"REDIS_URL part {redact_url(chunk)!r}: bad port") from exc
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise BadRedisUrl(f"REDIS_URL part {redact_url(chunk)!r}: the database is a number")
        out.append((parts.hostname, port, int(path) if path else None))
    return out


def credentials(url: str) -> tuple[str | None, str | None]:
    first = urlsplit(url.split(";")[0].strip())
    user = unquote(first.username) if first.username else None
    password = unquote(first.password) if first.password is not None else None
    return user, password


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***`, safe to print or log (each part of a
    `sentinel://a;sentinel://b` list). Read as text, never parsed for a port, so a URL too
    broken to use is still safe to name in the error that says so."""
    if ";" in url:
        return ";".join(redact_url(part) for part in url.split(";"))
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    if not at or not colon:
        return url
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))
