"""Users' own repair strategies: entry points in the group `compose_healer.strategies`.

The entry point's name is the action name; its object is a callable taking one
`StrategyContext`. It returns on success and raises on failure.

A plugin runs in a child process (healer.adapters.plugins.runner) with a deadline, never in
the worker itself. A thread could not be stopped: a plugin hung past its limit would keep
running after the repair was recorded as failed and its lock released, free to act on the
containers while the next repair does, and every hang would leak a thread (and a busy loop
would hold the GIL) in a worker that must keep serving. A child process is killed with its
whole process group at the deadline, so nothing of the plugin outlives the repair's lock,
and no exception, `sys.exit`, segfault or leak of a plugin can reach the worker. The cost,
a Python start per plugin repair (a few hundred ms), is small next to a repair's cooldown.

Long-running processes (workers, API) only read entry point metadata, which imports
nothing; `healer strategies` and `healer check` import each plugin to report the broken ones.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from healer.adapters.hardening.environ import child_env
from healer.core.actions import valid_plugin_name

GROUP = "compose_healer.strategies"

log = logging.getLogger("healer.plugins")


@dataclass
class StrategyContext:
    """What a strategy gets. `docker` is a docker.DockerClient for the service's engine."""

    service: str  # the service id, `project/service`
    container_ids: list[str]
    condition: str
    docker: Any
    log: logging.Logger
    action: str = ""
    detail: str = ""  # why the repair was asked for (probe finding, alert summary, reason)
    attempt: int = 0  # attempt number within the episode


@dataclass(frozen=True)
class Plugin:
    name: str
    value: str  # module:attr
    origin: str  # the distribution that provides it, e.g. "example-strategy 0.1.0"
    error: str = ""  # why it cannot be used; "" when it can


def _origin(ep: EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"


def discover(load: bool = False) -> list[Plugin]:
    """Every installed strategy entry point, sorted by name. `load` imports each one (only
    in short-lived commands) so import failures and non-callables are reported."""
    eps = sorted(entry_points(group=GROUP), key=lambda e: (e.name, _origin(e)))
    names = [ep.name for ep in eps]
    out = []
    for ep in eps:
        error = valid_plugin_name(ep.name)
        if not error and names.count(ep.name) > 1:
            others = ", ".join(_origin(e) for e in eps if e.name == ep.name)
            error = f"the name {ep.name!r} is provided more than once ({others})"
        if not error and load:
            error = load_error(ep)
        out.append(Plugin(ep.name, ep.value, _origin(ep), error))
    return out


def load_error(ep: EntryPoint) -> str:
    try:
        obj = ep.load()
    except BaseException as exc:  # a plugin's import may raise anything, even SystemExit
        return f"cannot be imported: {type(exc).__name__}: {exc}"
    if not callable(obj):
        return f"{ep.value} is a {type(obj).__name__}, not a callable"
    return ""


def available(plugins: Iterable[Plugin] | None = None) -> frozenset[str]:
    """Names usable as actions (metadata only: an import failure shows at run time)."""
    found = discover() if plugins is None else plugins
    return frozenset(p.name for p in found if not p.error)


class PluginFailed(Exception):
    """The strategy raised, hung past its limit, or could not be loaded."""


@dataclass(frozen=True)
class RunRequest:
    action: str
    service: str
    container_ids: list[str]
    condition: str
    detail: str = ""
    attempt: int = 0
    docker_host: str | None = None


def run(req: RunRequest, timeout: float) -> str:
    """Run the strategy in a child process; return its log output, raise PluginFailed."""
    # Only what running Python and reaching Docker needs: a strategy never sees REDIS_URL,
    # tokens or passwords (and the worker itself is not dumpable: healer.adapters.hardening).
    env = child_env(os.environ)
    if req.docker_host:
        env["DOCKER_HOST"] = req.docker_host
    proc = subprocess.Popen(
        [sys.executable, "-m", "healer.adapters.plugins.runner"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        start_new_session=True,  # its own process group: killed whole, children included
    )
    try:
        out, err = proc.communicate(json.dumps(asdict(req)), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        limit = f"strategy {req.action!r} did not finish within {timeout:g}s; killed"
        raise PluginFailed(limit) from None
    finally:
        if proc.poll() is None:  # e.g. Celery's soft time limit interrupted the wait
            _kill(proc)
    _relay(req.action, err)
    if proc.returncode != 0:
        raise PluginFailed(_failure(req.action, out, err, proc.returncode))
    return err


def _kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _relay(action: str, err: str) -> None:
    for line in err.splitlines()[-200:]:
        log.info("[%s] %s", action, line)


def _failure(action: str, out: str, err: str, code: int) -> str:
    try:
        return str(json.loads(out.strip().splitlines()[-1])["error"])
    except (ValueError, IndexError, KeyError, TypeError):
        tail = " | ".join(err.strip().splitlines()[-3:])
        return f"strategy {action!r} exited with code {code}" + (f": {tail}" if tail else "")
