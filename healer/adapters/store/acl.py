"""The stack's Redis users: one per role, each with only the commands and keys its code uses.

The one place the rules live: scripts/stack.sh renders the stack's ACL file from them
(`python -m healer.adapters.store.acl > users.acl`, passwords from the environment), and
tests/integration/test_redis_acl.py loads the same file into a real redis-server and runs each
role's code against it. The file holds SHA-256 hashes of the passwords (`#<hash>`), never a
password itself, so redis-server needs none of them in its environment or on its command line.

Every user: no FLUSHALL/FLUSHDB, KEYS, CONFIG, DEBUG, SHUTDOWN, MODULE, ACL, REPLICAOF, MIGRATE,
RESTORE, SAVE, MONITOR, CLIENT KILL or FUNCTION (Redis' @dangerous and @admin categories and
more): no role does any of those. Keys: the healer's own (`healer:*`), the Celery queues
(`healer.*`, kombu's `_kombu.binding*` routing sets, `unacked*` for redelivery), Celery's
results (`celery-task-meta-*`) and the remote-control queues (`*.celery.pidbox*`), each role
only what its code touches, and read-only where it only reads (`%R~`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

# What no healer role runs, on top of the @dangerous/@admin categories: FUNCTION can replace
# server-side code every client runs, SCRIPT FLUSH/KILL interfere with other clients' scripts,
# SWAPDB, MOVE and COPY move data between databases.
_NEVER = "-@dangerous -@admin -function -script|flush -script|kill -swapdb -move -copy"
# Data commands a Celery client (kombu's Redis transport, the result backend) and the
# healer's stores run; pattern-limited by the keys below. No INFO, ROLE or CLIENT (all in
# @dangerous): no role's code path sends one (the role test checks ACL LOG). SELECT: REDIS_URL
# names the database (key patterns hold in every database alike). On Redis 7.2 and later
# redis-py's `CLIENT SETINFO` at connect is refused and ignored (a line in ACL LOG); it cannot
# be granted here, as Redis 7.0 refuses an ACL file that names a command it lacks.
_DATA = f"+@all {_NEVER} +select"
# Queues and routing every Celery producer writes (kombu declares a queue's binding before
# it publishes), and the result of a task it may wait for.
_PRODUCER_KEYS = "~healer.* ~_kombu.binding* %R~celery-task-meta-*"
# Pub/sub: Celery's events and remote-control fan-out (`/<db>.celeryev/...`,
# `/<db>.celery.pidbox`) and its result channels (`celery-task-meta-*`). kombu PSUBSCRIBEs the
# fan-out channels, and Redis grants a PSUBSCRIBE only for a channel pattern spelled exactly
# as allowed: hence the database number in them.
_CHANNELS = "&/{db}.celeryev/* &/{db}.celery.pidbox &celery-task-meta-*"


@dataclass(frozen=True)
class Role:
    user: str  # the Redis user name, also in the role's REDIS_URL
    env: str  # the environment variable scripts/stack.sh keeps its password in
    rules: str  # ACL rules after `on #<hash> resetkeys resetchannels -@all`


ROLES: tuple[Role, ...] = (
    Role(
        "healer-worker",
        "REDIS_PASSWORD_WORKER",
        # Every healer key: repairs, scaling, guard, history, metrics. Consumes the queues
        # (unacked* is kombu's redelivery bookkeeping) and stores task results.
        f"{_DATA} ~healer:* ~healer.* ~_kombu.binding* ~unacked ~unacked_index ~unacked_mutex"
        f" ~celery-task-meta-* ~*.celery.pidbox* {_CHANNELS}",
    ),
    Role(
        "healer-beat",
        "REDIS_PASSWORD_BEAT",
        # Reads the healer's keys (the host registry it fans the schedule out over, the queue
        # backlog); writes RedBeat's schedule and lock, the between-cycles scale check's
        # watch list and trigger marks, its heartbeat.
        f"{_DATA} %R~healer:* ~healer:redbeat* ~healer:scale:* ~healer:heartbeat:beat:*"
        f" {_PRODUCER_KEYS} %R~unacked {_CHANNELS}",
    ),
    Role(
        "healer-events",
        "REDIS_PASSWORD_EVENTS",
        # Marks of what it saw (hand stops, crash times, the events cursor), its counters and
        # heartbeat, boot detection; publishes probes.
        f"{_DATA} %R~healer:* ~healer:manual_stop:* ~healer:dies:* ~healer:events:*"
        " ~healer:heartbeat:events:* ~healer:metrics:* ~healer:boot:* ~healer:host:*"
        f" ~healer:hosts {_PRODUCER_KEYS} {_CHANNELS}",
    ),
    Role(
        "healer-api",
        "REDIS_PASSWORD_API",
        # Reads every healer key (status, history, requests); writes request records and the
        # history of what it was asked, operator intent (pause flags, episode resets), alert
        # dedupe and rate marks, its heartbeat; publishes repairs and scales. Never a force
        # grant (healer:grant:*): see RequestStore.grant_force.
        f"{_DATA} %R~healer:* ~healer:request:* ~healer:history ~healer:paused:*"
        " ~healer:episode:* ~healer:healthy_since:* ~healer:alert:*"
        f" ~healer:heartbeat:api:* {_PRODUCER_KEYS} {_CHANNELS}",
    ),
    Role(
        "healer-flower",
        "REDIS_PASSWORD_FLOWER",
        # Flower reads queue lengths, follows the events (a `celeryev.<uuid>` queue of its
        # own) and asks the workers what they run (remote control: a reply queue of its
        # own). kombu's periodic redelivery check takes `unacked_mutex` in every consumer;
        # Flower may take it but not redeliver (read-only unacked*): the workers do. It
        # cannot publish a task: no write on the queues, so its "apply task" API gets NOPERM.
        f"{_DATA} %R~healer.* %R~healer:* %R~celery-task-meta-* ~_kombu.binding*"
        f" ~*.celery.pidbox* ~celeryev.* ~unacked_mutex %R~unacked %R~unacked_index {_CHANNELS}",
    ),
    Role(
        "redis-exporter",
        "REDIS_PASSWORD_EXPORTER",
        # INFO is all `redis_up` and the exporter's server metrics need; no key at all.
        "+info +ping +select +client|setname +latency|latest +slowlog|len +slowlog|get"
        " +dbsize +role",
    ),
)

# A single-host install (scripts/install.sh) runs every role in one process tree with one
# user: the worker's rights, under a name of its own.
SINGLE_HOST = Role("healer", "REDIS_PASSWORD", ROLES[0].rules)
# The operator's own user (backups, inspection): every command. No role uses it.
ADMIN = Role("admin", "REDIS_PASSWORD", "+@all ~* &*")
# The HA profile: replicas sync from the master, sentinels monitor and fail it over.
REPLICA = Role("replica", "REDIS_PASSWORD_REPLICA", "+psync +replconf +ping")
SENTINEL = Role(
    "sentinel",
    "REDIS_PASSWORD_SENTINEL",
    # What Redis' Sentinel documentation lists for a monitored server's sentinel user.
    "+client +subscribe +publish +ping +info +multi +slaveof +config +exec &__sentinel__:hello",
)
# The healthcheck: PING and nothing else, no password (it reveals nothing).
HEALTHCHECK = "user healthcheck on nopass resetkeys resetchannels -@all +ping"
# No anonymous client: `default` is off, so no connection is ever logged in as it and every
# client names its user. Its rights are not a client's: Redis 7.0 checks the MULTI/EXEC
# blocks it replays from the append-only file at start against `default`, so with fewer
# rights every transaction written before a restart would be dropped on reload.
DEFAULT_OFF = "user default off resetpass ~* &* +@all"


class MissingPassword(ValueError):
    """A role's password variable is empty; the message names it."""


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def user_line(role: Role, password: str, db: int = 0) -> str:
    if not password:
        raise MissingPassword(f"{role.env} is empty: the {role.user} Redis user needs a password")
    rules = role.rules.replace("{db}", str(db))
    return f"user {role.user} on #{password_hash(password)} resetkeys resetchannels -@all {rules}"


def render(passwords: Mapping[str, str], *, ha: bool = False, db: int = 0) -> str:
    """The ACL file: `default` off, one user per role, the admin, the healthcheck; with `ha`
    the replication and sentinel users too. `passwords` maps each role's env name; `db` is
    the database of the roles' REDIS_URL."""
    roles = [*ROLES, ADMIN, *((REPLICA, SENTINEL) if ha else ())]
    lines = [DEFAULT_OFF, HEALTHCHECK]
    lines += [user_line(r, passwords.get(r.env, ""), db) for r in roles]
    return "\n".join(lines) + "\n"


def render_single_host(password: str, db: int = 0) -> str:
    """scripts/install.sh's: `default` off, the one `healer` user, the healthcheck."""
    return "\n".join([DEFAULT_OFF, HEALTHCHECK, user_line(SINGLE_HOST, password, db)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m healer.adapters.store.acl [--ha | --single-host] [--db N]`: the ACL file on
    stdout, the passwords from the environment (each role's variable)."""
    parser = argparse.ArgumentParser(prog="python -m healer.adapters.store.acl")
    parser.add_argument("--ha", action="store_true", help="add the replica and sentinel users")
    parser.add_argument("--single-host", action="store_true", help="one `healer` user only")
    parser.add_argument("--db", type=int, default=0, help="the roles' database number")
    args = parser.parse_args(argv)
    try:
        if args.single_host:
            text = render_single_host(os.environ.get(SINGLE_HOST.env, ""), args.db)
        else:
            text = render(os.environ, ha=args.ha, db=args.db)
    except MissingPassword as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
