"""Every Redis key the healer writes, with its lifetime. Nothing else builds key strings.

Rule: anything that counts or expires carries a TTL set in the same MULTI/Lua call that
creates it. The only keys without a TTL are operator intent (pause flags) and the bounded
history stream.
"""

from __future__ import annotations

from healer.core.model import Condition, ContainerId, ServiceId

PREFIX = "healer:"


# Owner-token lock, one repair in flight per service. TTL: Settings.lock_ttl, extended to the
# repair's budget (healer.core.work.repair_budget) before it acts.
def lock(sid: ServiceId) -> str:
    return f"{PREFIX}lock:{sid}"


# Episode hash (attempts, last_repair_at, started_at, quarantined_at, last_request).
# TTL: Settings.quarantine_ttl, refreshed by every probe that still sees the failure.
def episode(sid: ServiceId, condition: Condition) -> str:
    return f"{PREFIX}episode:{sid}:{condition.value}"


def episode_pattern(sid: ServiceId) -> str:
    return f"{PREFIX}episode:{sid}:*"


# Float timestamp: when the service was first seen healthy again. TTL: 2 × reset_after + 1 day.
def healthy_since(sid: ServiceId) -> str:
    return f"{PREFIX}healthy_since:{sid}"


# Set while a service is down, so its return can restart dependents. TTL: 1 day.
def was_down(sid: ServiceId) -> str:
    return f"{PREFIX}was_down:{sid}"


# Operator pause flags: no TTL — an operator's "leave it alone" must not silently expire.
PAUSED_ALL = f"{PREFIX}paused:*all*"


def paused(sid: ServiceId) -> str:
    return f"{PREFIX}paused:{sid}"


# Set by the events watcher on a `stop` the healer did not issue. TTL: 30 days.
def manual_stop(cid: ContainerId) -> str:
    return f"{PREFIX}manual_stop:{cid}"


# When a container was first seen `restarting`. TTL: restarting_grace + 1 h.
def restarting_since(cid: ContainerId) -> str:
    return f"{PREFIX}restarting_since:{cid}"


# Sorted set of die-event times for crash-loop detection. TTL: crashloop_window.
def dies(sid: ServiceId) -> str:
    return f"{PREFIX}dies:{sid}"


# Marks the healer's own stop/start so the watcher does not take it for a hand stop.
# TTL: the repair's budget (healer.core.work.repair_budget), derived from the work.
def acting(cid: ContainerId) -> str:
    return f"{PREFIX}acting:{cid}"


# A skipped decision already recorded with this reason. TTL: SKIP_DEDUPE_TTL.
def skip_seen(sid: ServiceId, condition: str, reason: str) -> str:
    return f"{PREFIX}skip_seen:{sid}:{condition}:{reason}"


SKIP_DEDUPE_TTL = 300


# A repair of (service, condition) is queued or running: probes do not queue another.
# TTL: Settings.lock_ttl (a lost task frees it); the repair deletes it when it ends.
def pending(sid: ServiceId, condition: Condition) -> str:
    return f"{PREFIX}pending:{sid}:{condition.value}"


# Repair slots in use (sorted set of owner tokens by expiry). TTL: Settings.lock_ttl.
REPAIR_SLOTS = f"{PREFIX}repair_slots"


# A delayed re-probe is scheduled for this service. TTL: the wait itself.
def reprobe(sid: ServiceId) -> str:
    return f"{PREFIX}reprobe:{sid}"


# Ad-hoc request record (status, outcome, detail). TTL: REQUEST_TTL.
def request(request_id: str) -> str:
    return f"{PREFIX}request:{request_id}"


REQUEST_TTL = 86400


# Last observed snapshot of a service (JSON). TTL: 3 × watchdog_interval (stale → gone).
def snapshot(sid: ServiceId) -> str:
    return f"{PREFIX}snapshot:{sid}"


SNAPSHOTS = f"{PREFIX}snapshots"  # set of sids with a snapshot; TTL like the snapshots

# Decision log, bounded by MAXLEN and trimmed by age (MINID) from beat.
HISTORY = f"{PREFIX}history"

# Counters behind the Prometheus series; TTL 30 days, refreshed on every write.
REPAIR_COUNTS = f"{PREFIX}metrics:repairs"
DECISION_COUNTS = f"{PREFIX}metrics:decisions"
LAST_REPAIR = f"{PREFIX}metrics:last_repair"
METRIC_TTL = 30 * 86400


# Liveness of each role. TTL: 3 × its beat.
def heartbeat(role: str) -> str:
    return f"{PREFIX}heartbeat:{role}"


# Event-watcher resume point (last event time ns) so a reconnect loses nothing. TTL 1 day.
EVENTS_CURSOR = f"{PREFIX}events:cursor"


# Repair-storm brake (healer.core.storm). Sorted set sid → last time seen unhealthy; TTL the
# storm window + 60 s, refreshed by every unhealthy repair.
STORM_UNHEALTHY = f"{PREFIX}storm:unhealthy"
# Managed services of this host, written by each reconcile. TTL 3 reconcile intervals + 30 s.
STORM_MANAGED = f"{PREFIX}storm:managed"
# The one unhealthy-repair allowed per trickle interval while braked. TTL: the interval.
STORM_TRICKLE = f"{PREFIX}storm:trickle"
# Present while the brake is engaged (value: why). TTL: the storm window, so it lifts by
# itself once no service is seen unhealthy any more.
STORM_BRAKED = f"{PREFIX}storm:braked"
