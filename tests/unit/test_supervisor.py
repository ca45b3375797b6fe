"""`healer run`'s supervisor: small (standard library only) and in step with the worker."""

from __future__ import annotations

import subprocess
import sys

from healer.core.queues import QUEUES
from healer.supervisor import EMBEDDED, commands
from workers.embedded import ROLES, parse_roles

HEAVY = ("celery", "fastapi", "uvicorn", "pydantic", "pydantic_settings", "docker", "redis")


def test_supervisor_imports_only_the_standard_library() -> None:
    code = (
        f"import sys, healer.supervisor\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the supervisor imported {out.stdout.strip()}"


def test_one_worker_child_consumes_every_queue_and_embeds_every_role() -> None:
    (child,) = commands()
    argv = child.argv
    assert argv[argv.index("-Q") + 1] == ",".join(QUEUES)
    assert parse_roles(argv[argv.index("--embed") + 1]) == ROLES == parse_roles(EMBEDDED)
    assert "-c" not in argv, "without --workers the setting decides"


def test_workers_option_sets_the_concurrency() -> None:
    (child,) = commands(workers=7)
    assert child.argv[child.argv.index("-c") + 1] == "7"


def test_an_agent_embeds_only_the_events_watcher_of_its_host() -> None:
    (child,) = commands(host="node-b", agent=True)
    argv = child.argv
    assert parse_roles(argv[argv.index("--embed") + 1]) == ("events",)
    queues = argv[argv.index("-Q") + 1].split(",")
    assert queues == [*QUEUES, *(f"{q}@node-b" for q in QUEUES)]
    assert argv[argv.index("-n") + 1].startswith("healer-node-b-")
    assert "--without-gossip" in argv and "--without-mingle" in argv


def test_a_full_run_of_a_named_host_still_embeds_beat_and_the_api() -> None:
    (child,) = commands(host="node-a")
    argv = child.argv
    assert parse_roles(argv[argv.index("--embed") + 1]) == ROLES
    assert "healer.repair@node-a" in argv[argv.index("-Q") + 1].split(",")
