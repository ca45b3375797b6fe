"""Example repair strategies for compose-healer.

A strategy is any callable taking one argument, the context, with at least:
  ctx.service        "project/service"
  ctx.container_ids  the containers to repair (list of ids)
  ctx.condition      why: "unhealthy", "exited", "alert", "manual", ...
  ctx.docker         a docker.DockerClient for the service's engine
  ctx.log            a logging.Logger (its lines go to the healer worker's log)
It returns on success and raises on failure; the healer records either, with the error.
"""

from __future__ import annotations

import time
from typing import Any

# The command run in each container, from this container label, or the default below (the
# compose-healer test services are healthy while /tmp/healthy exists).
COMMAND_LABEL = "example.heal.command"
DEFAULT_COMMAND = "touch /tmp/healthy"


def exec_heal(ctx: Any) -> None:
    """Run a repair command inside each container, e.g. a config reload, without a restart."""
    for cid in ctx.container_ids:
        container = ctx.docker.containers.get(cid)
        command = container.labels.get(COMMAND_LABEL, DEFAULT_COMMAND)
        ctx.log.info("%s: running %r in %s", ctx.service, command, container.name)
        result = container.exec_run(["sh", "-c", command])
        if result.exit_code != 0:
            output = result.output.decode(errors="replace").strip()
            raise RuntimeError(
                f"{command!r} exited {result.exit_code} in {container.name}: {output}"
            )


def always_fail(ctx: Any) -> None:
    """A strategy that fails: the healer records a failed repair with this message."""
    ctx.log.info("about to fail for %s", ctx.service)
    raise RuntimeError(f"example failure for {ctx.service} ({len(ctx.container_ids)} containers)")


def hang(ctx: Any) -> None:
    """A strategy that never returns: the healer kills it at its time limit."""
    ctx.log.info("hanging for %s", ctx.service)
    while True:
        time.sleep(3600)
