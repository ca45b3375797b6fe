"""Where the healer's Redis is: one server (`redis://`) or a master found through Sentinel
(`sentinel://h1:26379;sentinel://h2:26379/0`, kombu's form).

The same target configures every Redis user: the healer's own clients (redis_conn.connect),
Celery's broker and result backend (kombu's and Celery's sentinel transports) and RedBeat
(`redis-sentinel://` with `redbeat_redis_options`), so all follow the one current master.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from healer.core.redis_url import credentials, is_sentinel, sentinel_parts

# Seconds a Sentinel query may take: a sentinel that is down is skipped, not waited for.
SENTINEL_TIMEOUT = 1.0


KEEPALIVE = {
    socket.TCP_KEEPIDLE: 10,
    socket.TCP_KEEPINTVL: 5,
    socket.TCP_KEEPCNT: 3,
    socket.TCP_USER_TIMEOUT: 25_000,  # milliseconds
}


@dataclass(frozen=True)
class RedisTarget:
    # Both carry passwords: a repr (Celery's conf dump, Flower's config view) leaves them out.
    url: str = field(repr=False)
    master: str = "mymaster"
    sentinel_password: str | None = field(default=None, repr=False)
    # Replicas the guard's claim waits for (WAIT) and for how long; see guard.claim.
    wait_replicas: int = 0
    wait_timeout: float = 0.1

    @property
    def is_sentinel(self) -> bool:
        return is_sentinel(self.url)

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [(h, p) for h, p, _ in sentinel_parts(self.url)]

    @property
    def db(self) -> int:
        dbs = [db for _, _, db in sentinel_parts(self.url) if db is not None]
        return dbs[-1] if dbs else 0

    @property
    def username(self) -> str | None:
        return credentials(self.url)[0]

    @property
    def password(self) -> str | None:
        """The Redis password (of master and replicas), from the URL's first part."""
        return credentials(self.url)[1]

    def sentinel_kwargs(self) -> dict[str, Any]:
        """Options of the connections to the sentinels themselves."""
        out: dict[str, Any] = {"socket_timeout": SENTINEL_TIMEOUT}
        out["socket_connect_timeout"] = SENTINEL_TIMEOUT
        if self.sentinel_password:
            out["password"] = self.sentinel_password
        return out

    def transport_options(self) -> dict[str, Any]:
        """kombu's and Celery's Sentinel options (broker and result backend)."""
        if not self.is_sentinel:
            return {}
        return {
            "master_name": self.master,
            "sentinel_kwargs": self.sentinel_kwargs(),
            # A master that vanishes without closing its connections (its host or container
            # gone: no RST) must not hold a producer or a worker for the kernel's minutes:
            # replies time out after 10 s, a silent peer is dropped after ~25 s (keepalive,
            # and TCP_USER_TIMEOUT for data never acknowledged); then the sentinels are asked.
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
            "socket_keepalive": True,
            "socket_keepalive_options": KEEPALIVE,
        }

    def redbeat(self) -> tuple[str, dict[str, Any]]:
        """RedBeat's (redbeat_redis_url, redbeat_redis_options). RedBeat takes Sentinel as a
        `redis-sentinel://` URL plus the sentinels and `service_name` in its options."""
        if not self.is_sentinel:
            return self.url, {}
        options: dict[str, Any] = {
            "sentinels": self.sentinels,
            "service_name": self.master,
            "db": self.db,
            "password": self.password,
            "sentinel_kwargs": self.sentinel_kwargs(),
            "socket_timeout": 10,
        }
        if self.username:
            options["username"] = self.username
        host, port = self.sentinels[0]
        return f"redis-sentinel://{host}:{port}/{self.db}", options
