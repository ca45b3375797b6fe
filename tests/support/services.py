"""Where the tests find Redis and Docker, and the check that both answer."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

import docker
import docker.errors
import redis

from .compose import compose_binary

SKIP_ENV = "HEALER_SKIP_INTEGRATION"

# DB 15 is reserved for tests and flushed around every test that uses it, so never point
# this at a Redis database holding anything of value. Under pytest-xdist, worker gwN uses the
# database N below it (15, 14, 13, ...): workers never flush each other's data.
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
XDIST_WORKER_ENV = "PYTEST_XDIST_WORKER"


def skip_integration() -> bool:
    """True when the operator asked to skip integration/e2e tests (HEALER_SKIP_INTEGRATION=1)."""
    return os.environ.get(SKIP_ENV, "").strip() == "1"


def redis_test_url() -> str:
    """The Redis database of this test process (of this xdist worker, under pytest-xdist)."""
    url = os.environ.get("HEALER_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
    return worker_redis_url(url, os.environ.get(XDIST_WORKER_ENV, ""))


def worker_redis_url(url: str, worker: str) -> str:
    """``url`` with the database of xdist worker ``worker`` ("gw2": two below url's own).

    Celery's broadcasts are prefixed with the database number too (kombu's fanout_prefix),
    so two workers' healers never hear each other. Database 0 is never handed out.
    """
    match = re.fullmatch(r"gw(\d+)", worker)
    if not match:
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    db = base - int(match.group(1))
    if db < 1:
        raise ValueError(
            f"xdist worker {worker} would get Redis db {db} below {url}: use fewer workers "
            "or a higher database in HEALER_TEST_REDIS_URL"
        )
    return urlunsplit(parts._replace(path=f"/{db}"))


def unreachable_services() -> list[str]:
    """One line per service the integration tests need that does not answer."""
    problems = []
    try:
        with redis.Redis.from_url(redis_test_url(), socket_connect_timeout=3) as client:
            client.ping()
    except redis.RedisError as exc:
        problems.append(f"Redis at {redis_test_url()} does not answer: {exc}")
    try:
        client = docker.from_env(timeout=10)
        try:
            client.ping()
        finally:
            client.close()
    except docker.errors.DockerException as exc:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        problems.append(f"Docker engine at {host} does not answer: {exc}")
    try:
        compose_binary()
    except RuntimeError as exc:
        problems.append(str(exc))
    return problems
