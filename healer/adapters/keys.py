"""Every Redis key the healer writes, with its lifetime. Nothing else builds key strings.

Rule: anything that counts or expires carries a TTL set in the same MULTI/Lua call that
creates it. The only keys without a TTL are operator intent (pause flags) and the bounded
history stream.

Guard and observed state belongs to one Docker host: those keys take the host (HEALER_HOST)
first and spell the service as `host/project/service`, so `web` on two hosts never shares a
lock, an episode or a quarantine. Request records, history and the metric counter hashes are
cluster-wide (their entries carry the host).
"""

from __future__ import annotations

import hashlib

from healer.core.model import Condition, ContainerId, HostId, ServiceId

PREFIX = "healer:"


def _on(host: HostId, name: str) -> str:
    return f"{host}/{name}"


# Owner-token lock, one repair in flight per service. TTL: Settings.lock_ttl.
def lock(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}lock:{_on(host, sid)}"


# Episode hash (attempts, last_repair_at, started_at, quarantined_at, last_request).
# TTL: Settings.quarantine_ttl, refreshed by every probe that still sees the failure.
def episode(host: HostId, sid: ServiceId, condition: Condition) -> str:
    return f"{PREFIX}episode:{_on(host, sid)}:{condition.value}"


def episode_pattern(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}episode:{_on(host, sid)}:*"


# Float timestamp: when the service was first seen healthy again. TTL: 2 × reset_after + 1 day.
def healthy_since(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}healthy_since:{_on(host, sid)}"


# Set while a service is down, so its return can restart dependents. TTL: 1 day.
def was_down(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}was_down:{_on(host, sid)}"


# Operator pause flags: no TTL — an operator's "leave it alone" must not silently expire.
# PAUSED_ALL is cluster-wide (`healer pause` without a service).
PAUSED_ALL = f"{PREFIX}paused:*all*"


def paused(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}paused:{_on(host, sid)}"


# Before hosts existed a pause flag was `paused:project/service`; an agent adopts those once.
LEGACY_PAUSED_PATTERN = f"{PREFIX}paused:*/*"


# Set by the events watcher on a `stop` the healer did not issue. TTL: 30 days.
def manual_stop(host: HostId, cid: ContainerId) -> str:
    return f"{PREFIX}manual_stop:{_on(host, cid)}"


# When a container was first seen `restarting`. TTL: restarting_grace + 1 h.
def restarting_since(host: HostId, cid: ContainerId) -> str:
    return f"{PREFIX}restarting_since:{_on(host, cid)}"


# Sorted set of die-event times for crash-loop detection. TTL: crashloop_window.
def dies(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}dies:{_on(host, sid)}"


# Marks the healer's own stop/start so the watcher does not take it for a hand stop.
# TTL: 60 s, longer than any single action.
def acting(host: HostId, cid: ContainerId) -> str:
    return f"{PREFIX}acting:{_on(host, cid)}"


# A skipped decision already recorded with this reason. TTL: SKIP_DEDUPE_TTL.
def skip_seen(host: HostId, sid: ServiceId, condition: str, reason: str) -> str:
    return f"{PREFIX}skip_seen:{_on(host, sid)}:{condition}:{reason}"


SKIP_DEDUPE_TTL = 300


# A repair of (service, condition) is queued or running: probes do not queue another.
# TTL: Settings.lock_ttl (a lost task frees it); the repair deletes it when it ends.
def pending(host: HostId, sid: ServiceId, condition: Condition) -> str:
    return f"{PREFIX}pending:{_on(host, sid)}:{condition.value}"


# Repair slots in use on one host's engine (sorted set of owner tokens by expiry): the cap
# protects an engine from a stampede, so each host has its own. TTL: Settings.lock_ttl.
def repair_slots(host: HostId) -> str:
    return f"{PREFIX}repair_slots:{host}"


# A delayed re-probe is scheduled for this service. TTL: the wait itself.
def reprobe(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}reprobe:{_on(host, sid)}"


# Ad-hoc request record (status, outcome, detail, host). TTL: REQUEST_TTL.
def request(request_id: str) -> str:
    return f"{PREFIX}request:{request_id}"


REQUEST_TTL = 86400


# Last observed snapshot of a service (JSON). TTL: 3 × watchdog_interval (stale → gone).
def snapshot(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}snapshot:{_on(host, sid)}"


# Set of sids with a snapshot on the host; TTL like the snapshots.
def snapshots(host: HostId) -> str:
    return f"{PREFIX}snapshots:{host}"


# Decision log, bounded by MAXLEN and trimmed by age (MINID) from beat. Entries carry `host`.
HISTORY = f"{PREFIX}history"

# Counters behind the Prometheus series (fields start with the host); TTL 30 days,
# refreshed on every write.
REPAIR_COUNTS = f"{PREFIX}metrics:repairs"
DECISION_COUNTS = f"{PREFIX}metrics:decisions"
LAST_REPAIR = f"{PREFIX}metrics:last_repair"
METRIC_TTL = 30 * 86400


# Liveness of each role on a host. TTL: 3 × its beat.
def heartbeat(role: str, host: HostId) -> str:
    return f"{PREFIX}heartbeat:{role}:{host}"


# Event-watcher resume point (last event time) of one host's engine, so a reconnect loses
# nothing. TTL 1 day.
def events_cursor(host: HostId) -> str:
    return f"{PREFIX}events:cursor:{host}"


# --- the host registry ------------------------------------------------------------------
# Sorted set host → time of its last heartbeat: the hosts the cluster knows, live or not
# (a stopped heartbeat is what makes a host `host_down`). TTL: HOST_FORGET_AFTER, refreshed
# by every heartbeat; members older than that are dropped on write.
HOSTS = f"{PREFIX}hosts"
HOST_FORGET_AFTER = 7 * 86400


# What a live host announces (engine name, DOCKER_HOST, agent pid, start time). TTL: the
# host's down-after period (about two heartbeat intervals): it exists only while the host is up.
def host_info(host: HostId) -> str:
    return f"{PREFIX}host:{host}"


# The project/service ids a host served at its last reconcile, so the API can resolve and
# route ids for hosts whose engine it cannot see, even while the host is down.
# TTL: HOST_FORGET_AFTER, replaced by every reconcile.
def host_services(host: HostId) -> str:
    return f"{PREFIX}host:{host}:services"


# RedBeat's schedule entries and lock (RedBeat sets their TTLs: the lock expires after
# redbeat_lock_timeout). One set per beat scope: beats over different host patterns
# (HEALER_BEAT_HOSTS) must not share a lock, or only one of them would ever fire.
def redbeat_prefix(patterns: tuple[str, ...]) -> str:
    if not patterns:
        return f"{PREFIX}redbeat"
    scope = hashlib.sha256(",".join(sorted(patterns)).encode()).hexdigest()[:12]
    return f"{PREFIX}redbeat:{scope}"
