#!/usr/bin/env python
"""Container healthcheck for every compose-healer role: ``healer-healthcheck [ROLE]``.

Installed in the image as /usr/local/bin/healer-healthcheck. ROLE is one of api, worker,
events, flower, beat; without it the role is found from the running command, so the image's
one HEALTHCHECK fits every role.

These are liveness checks: they fail only when *this* container is broken, never because a
dependency is. A Redis outage makes every role "can't tell" (healthy), not unhealthy: the
HealerRedisDown alert covers it, and an unhealthy mark would only make the healer restart its
own roles the moment Redis is back. The Docker socket is different: the engine that runs this
container answers on it, so a role that needs it and cannot use it is misconfigured (socket
not mounted, wrong DOCKER_GID) and reported unhealthy.
"""

from __future__ import annotations

import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

HTTP_TIMEOUT = 5.0


def main(argv: Sequence[str]) -> int:
    wanted = argv[0] if argv else None
    cmdline = _find_role_command(wanted)
    role = wanted or (role_of(cmdline) if cmdline else None)
    check = CHECKS.get(role or "")
    if check is None:
        print(f"unknown role {role!r}; expected one of {', '.join(CHECKS)}")
        return 1
    ok, message = check(cmdline or [])
    print(f"{role}: {message}")
    return 0 if ok else 1


# --- finding the role ------------------------------------------------------------------------


def role_of(argv: Sequence[str]) -> str | None:
    """The healer role a process command line runs, or None for any other process."""
    joined = " ".join(argv)
    if "healer.api.app:create_app" in joined:
        return "api"
    if "beat.events" in argv:
        return "events"
    if "workers.app" in joined:
        for sub in ("worker", "flower", "beat"):
            if sub in argv:
                return sub
    return None


def _find_role_command(wanted: str | None) -> list[str] | None:
    """The command line of the lowest-pid process running `wanted` (any healer role if None);
    PID 1 normally. Options such as --port and -n are read from it."""
    procs = [p for p in Path("/proc").glob("[0-9]*") if p.name.isdigit()]
    for proc in sorted(procs, key=lambda p: int(p.name)):
        try:
            raw = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        argv = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
        role = role_of(argv)
        if role and wanted in (None, role):
            return argv
    return None


def option(argv: Sequence[str], *names: str, default: str) -> str:
    """Value of `--name V`, `--name=V` or `-n V` in argv."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return default


# --- checks ----------------------------------------------------------------------------------

Result = tuple[bool, str]


def check_api(argv: Sequence[str]) -> Result:
    # /healthz answers 503 when Redis or Docker is down; any answer proves the server is alive.
    port = option(argv, "--port", default="8000")
    return _http_alive(f"http://127.0.0.1:{port}/healthz", any_status=True)


def check_flower(argv: Sequence[str]) -> Result:
    port = option(argv, "--port", default="5555")
    return _http_alive(f"http://127.0.0.1:{port}/healthcheck", any_status=False)


def check_worker(argv: Sequence[str]) -> Result:
    docker_ok, docker_msg = _docker_reachable()
    if not docker_ok:
        return False, docker_msg
    url, redis_problem = _redis()
    if redis_problem:
        return True, f"cannot tell, Redis unreachable ({redis_problem}); {docker_msg}"
    from celery import Celery

    from healer.adapters.store.connection import target
    from healer.settings import Settings

    node = option(argv, "-n", "--hostname", default="celery@%h")
    node = node.replace("%h", socket.gethostname())
    app = Celery(broker=url)
    # With sentinel:// the broker needs the master's name (and the sentinels' password).
    app.conf.broker_transport_options = target(Settings()).transport_options()
    try:
        replies = app.control.ping(destination=[node], timeout=5.0)
    finally:
        app.close()
    if not replies:
        return False, f"worker {node} did not answer a ping within 5 s"
    return True, f"{node} answers pings; {docker_msg}"


def check_events(argv: Sequence[str]) -> Result:
    docker_ok, docker_msg = _docker_reachable()
    if not docker_ok:
        return False, docker_msg
    _, redis_problem = _redis()
    if redis_problem:
        return True, f"cannot tell, Redis unreachable ({redis_problem}); {docker_msg}"
    from healer.adapters.store import keys
    from healer.adapters.store.connection import connect, target
    from healer.settings import Settings

    settings = Settings()
    with connect(target(settings)) as r:
        fresh = bool(r.exists(keys.heartbeat("events", settings.host_id)))
    if not fresh:
        return False, "no events heartbeat in Redis for 60 s"
    return True, f"heartbeat fresh; {docker_msg}"


def check_beat(argv: Sequence[str]) -> Result:
    # A beat without the RedBeat lock is a healthy standby and does nothing visible; a beat
    # that holds it but does not fire is WatchdogDown's job (the reconcile heartbeat goes
    # stale). So the process running is all a per-container check can honestly assert.
    return True, "running (schedule liveness is watched by the WatchdogDown alert)"


CHECKS: dict[str, Callable[[Sequence[str]], Result]] = {
    "api": check_api,
    "worker": check_worker,
    "events": check_events,
    "flower": check_flower,
    "beat": check_beat,
}


# --- helpers ---------------------------------------------------------------------------------


def _http_alive(url: str, *, any_status: bool) -> Result:
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as resp:
            return True, f"{url} -> {resp.status}"
    except urllib.error.HTTPError as exc:
        return any_status, f"{url} -> {exc.code} {exc.read(200).decode(errors='replace')}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url} unreachable: {exc}"


def _redis() -> tuple[str, str]:
    """(REDIS_URL, problem or "")."""
    import redis

    from healer.adapters.store.connection import ping, target
    from healer.settings import Settings

    settings = Settings()
    url = settings.redis_url
    try:
        ping(target(settings), timeout=3)
    except redis.RedisError as exc:
        return url, str(exc)
    return url, ""


def _docker_reachable() -> Result:
    import docker

    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except docker.errors.DockerException as exc:
        return False, (
            f"Docker engine unreachable: {exc} (socket mounted? DOCKER_GID = the socket's gid?)"
        )
    return True, "docker ok"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
