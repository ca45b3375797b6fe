"""Keep a healer process's environment (Redis password, API tokens) out of reach.

The worker mounts the host's /proc read-only (network counters per container), and every
healer role runs as the same uid. Linux lets a process read /proc/<pid>/environ of any other
process of its uid: so any code in the worker (a plugin strategy included) could read the
API's tokens. A process that is not "dumpable" has its /proc/<pid> files owned by root, so
an unprivileged process of the same uid can no longer read them; each role marks itself so at
start. A plugin strategy's child process gets an environment of its own, without secrets.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Mapping

log = logging.getLogger("healer.hardening")

_PR_SET_DUMPABLE = 4

# What a strategy's child process needs to run Python and reach the Docker engine.
CHILD_ENV_KEYS = frozenset(
    {
        "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH",
        "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "DOCKER_HOST",
        "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION", "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    }
)  # fmt: skip


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment reduced to CHILD_ENV_KEYS: no REDIS_URL, no token, no
    password, nothing else of the healer's settings."""
    return {k: v for k, v in environ.items() if k in CHILD_ENV_KEYS}


def keep_environ_private() -> bool:
    """Mark this process not dumpable (prctl PR_SET_DUMPABLE 0); False where it cannot be."""
    path = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(path, use_errno=True)
        ok = bool(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        ok = False
    if not ok:
        log.warning("could not mark the process non-dumpable; /proc/<pid>/environ stays readable")
    return ok
