"""Where the tests find Redis and Docker, and the check that both answer."""

from __future__ import annotations

import os

import docker
import docker.errors
import redis

from .compose import compose_binary

SKIP_ENV = "HEALER_SKIP_INTEGRATION"

# DB 15 is reserved for tests and flushed around every test that uses it, so never point
# this at a Redis database holding anything of value.
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


def skip_integration() -> bool:
    """True when the operator asked to skip integration/e2e tests (HEALER_SKIP_INTEGRATION=1)."""
    return os.environ.get(SKIP_ENV, "").strip() == "1"


def redis_test_url() -> str:
    return os.environ.get("HEALER_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)


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
