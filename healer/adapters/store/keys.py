"""Every Redis key the healer writes, with its lifetime. Nothing else builds key strings.

Rule: anything that counts or expires carries a TTL set in the same MULTI/Lua call that
creates it. The only keys without a TTL are operator intent (pause flags) and the bounded
history stream. A TTL is either a named constant here, with the reason for its size, or a
function of the settings that bound the work the key describes.

Guard and observed state belongs to one Docker host (HEALER_HOST): those keys take the host
first and spell the service `host/project/service`, so `web` on two hosts never shares a
lock, an episode or a quarantine. Request records, history and the metric counter hashes are
cluster-wide (their entries carry the host).
"""

from __future__ import annotations

import hashlib

from healer.core.model import Condition, ContainerId, HostId, ServiceId

PREFIX = "healer:"


def _on(host: HostId, name: str) -> str:
    return f"{host}/{name}"


HOUR = 3600
DAY = 86400


# Owner-token lock, one repair in flight per service. TTL: Settings.lock_ttl, extended to the
# repair's budget (healer.core.repair.work.repair_budget) before it acts.
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


# Set while a service is down, so its return can restart dependents. TTL: WAS_DOWN_TTL.
def was_down(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}was_down:{_on(host, sid)}"


# A dependency down for longer than a day is an outage for an operator, not for a restart of
# its dependents; a probe that still sees it down re-sets the mark anyway.
WAS_DOWN_TTL = DAY


# Operator pause flags: no TTL — an operator's "leave it alone" must not silently expire.
# PAUSED_ALL is cluster-wide (`healer pause` without a service).
PAUSED_ALL = f"{PREFIX}paused:*all*"

# Before hosts existed a pause flag was `paused:project/service`; an agent adopts those once.
LEGACY_PAUSED_PATTERN = f"{PREFIX}paused:*/*"


def paused(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}paused:{_on(host, sid)}"


# Set by the events watcher on a `stop` the healer did not issue. TTL: MANUAL_STOP_TTL.
def manual_stop(host: HostId, cid: ContainerId) -> str:
    return f"{PREFIX}manual_stop:{_on(host, cid)}"


# A hand-stopped container stays down this long at most (a month of "I stopped it on
# purpose"); the next `start` event clears it sooner.
MANUAL_STOP_TTL = 30 * DAY


# When a container was first seen `restarting`. TTL: restarting_since_ttl — it must outlive
# the grace and then the longest backoff wait (a stuck container whose repair waits out a
# backoff is still stuck when the wait ends), plus an hour of slack for missed probes.
def restarting_since(host: HostId, cid: ContainerId) -> str:
    return f"{PREFIX}restarting_since:{_on(host, cid)}"


def restarting_since_ttl(restarting_grace: float, backoff_max: float) -> int:
    return int(restarting_grace + backoff_max + HOUR)


# Sorted set of die-event times for crash-loop detection. TTL: crashloop_window.
def dies(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}dies:{_on(host, sid)}"


# Marks the healer's own stop/start so the watcher does not take it for a hand stop.
# TTL: the lock TTL of the action that sets it (a repair's lock is stretched to the repair's
# budget, healer.core.repair.work.repair_budget; the scale lock for a replica removal): the action
# cannot outlast its lock, and the action deletes the mark when it ends, so the TTL only
# matters when a worker dies mid-action.
def acting(host: HostId, cid: ContainerId) -> str:
    return f"{PREFIX}acting:{_on(host, cid)}"


# A skipped decision already recorded with this reason. TTL: SKIP_DEDUPE_TTL.
def skip_seen(host: HostId, sid: ServiceId, condition: str, reason: str) -> str:
    return f"{PREFIX}skip_seen:{_on(host, sid)}:{condition}:{reason}"


# Five minutes: ten reconcile probes at the default interval say the same thing once, and an
# operator reading the history still sees a still-true skip every few minutes.
SKIP_DEDUPE_TTL = 300


# A repair of (service, condition) is queued or running: probes do not queue another.
# TTL: Settings.lock_ttl (a lost task frees it); the repair deletes it when it ends.
def pending(host: HostId, sid: ServiceId, condition: Condition) -> str:
    return f"{PREFIX}pending:{_on(host, sid)}:{condition.value}"


# Repair slots in use on a host (sorted set of owner tokens by expiry): the concurrency is
# the host's engine's. TTL: Settings.lock_ttl.
def repair_slots(host: HostId) -> str:
    return f"{PREFIX}repair_slots:{host}"


# The adaptive repair concurrency limit of a host's engine (hash of
# healer.core.repair.concurrency.LimitState). TTL: repair_limit.LIMIT_TTL, refreshed by every
# repair: after an hour without one the next mass failure starts from the initial limit
# again, since the engine may have changed.
def repair_limit(host: HostId) -> str:
    return f"{PREFIX}repair_limit:{host}"


# A delayed re-probe is scheduled for this service. TTL: the wait itself.
def reprobe(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}reprobe:{_on(host, sid)}"


# Ad-hoc request record (status, outcome, detail). TTL: REQUEST_TTL.
def request(request_id: str) -> str:
    return f"{PREFIX}request:{request_id}"


# A day: `healer repair --wait` and `GET /requests/{id}` read it within minutes; a day
# leaves room for a human to look the next morning.
REQUEST_TTL = DAY


# A forced scale's permission, written by the CLI next to its request record and taken (once)
# by the worker that scales: the API's Redis user cannot write it (healer.adapters.store.acl),
# so a message that says `force` but came from the API is refused. TTL: REQUEST_TTL, as the
# request it belongs to.
def force_grant(request_id: str) -> str:
    return f"{PREFIX}grant:force:{request_id}"


# Last observed snapshot of a service (JSON). TTL: snapshot_ttl — three reconcile intervals,
# so a dead worker shows up as stale (missing) status rather than as old data.
def snapshot(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}snapshot:{_on(host, sid)}"


def snapshot_ttl(watchdog_interval: float) -> int:
    return int(max(3 * watchdog_interval, 30))


# Set of the host's sids with a snapshot; TTL like the snapshots.
def snapshots(host: HostId) -> str:
    return f"{PREFIX}snapshots:{host}"


# Decision log, bounded by MAXLEN and trimmed by age (MINID) from beat. Entries carry `host`.
HISTORY = f"{PREFIX}history"

# --- metrics (read by the API's collector at scrape time) ---------------------------------

# Counters behind the Prometheus series, fields starting with the host (`host|sid|…`); TTL
# METRIC_TTL, refreshed on every write: a month of no repair at all resets them, which
# Prometheus' rate() handles like a restart.
REPAIR_COUNTS = f"{PREFIX}metrics:repairs"
# Redis through Sentinel: claims WAIT did not see on a replica in time, failovers seen, and the
# master last seen (host:port), which the failover watch compares with the sentinels' answer.
UNREPLICATED_CLAIMS = f"{PREFIX}metrics:redis_unreplicated_claims"
REDIS_FAILOVERS = f"{PREFIX}metrics:redis_failovers"
REDIS_MASTER = f"{PREFIX}redis:master"
DECISION_COUNTS = f"{PREFIX}metrics:decisions"
LAST_REPAIR = f"{PREFIX}metrics:last_repair"
METRIC_TTL = 30 * DAY
# Counter hash "host|sid|up" / "host|sid|down". TTL METRIC_TTL, refreshed on write.
SCALE_EVENTS = f"{PREFIX}metrics:scale_events"
# Hash host → bytes freed by the disk cleanup. TTL METRIC_TTL, refreshed on write.
CLEANUP_BYTES = f"{PREFIX}metrics:cleanup_bytes_by_host"
# Hash "host|path" → used ratio. TTL: disk_usage_ttl, three disk checks (stale → gone).
DISK_USAGE = f"{PREFIX}metrics:disk"


def disk_usage_ttl(disk_interval: float) -> int:
    return 3 * int(disk_interval) + 60


# One host's hash "sid|container|cpu|memory|network" → ratio (network: errors/s). Rewritten
# whole by the host's reconcile (hosts never clobber each other's); TTL snapshot_ttl (three
# reconciles), like the snapshots it sits beside.
def resource_ratios(host: HostId) -> str:
    return f"{PREFIX}metrics:resources:{host}"


# Hash "restarts|host|sid|container" → count, "oom|host|sid|container" → 0/1, from the events
# watchers. TTL METRIC_TTL, refreshed on write.
CONTAINER_EVENTS = f"{PREFIX}metrics:container_events"
# Sorted set "host|worker hostname:pid" → last Celery heartbeat (unix time); members older
# than WORKER_FRESH seconds count as offline, older than an hour are dropped. TTL METRIC_TTL.
WORKERS = f"{PREFIX}metrics:workers"


# One host's hash "sid|kind" → replicas (current, desired, min, max), rewritten whole with
# the host's scale status. TTL scale_status_ttl.
def replicas(host: HostId) -> str:
    return f"{PREFIX}metrics:replicas:{host}"


# Histogram buckets of one series in one hash. TTL METRIC_TTL, refreshed on write.
def histogram(name: str) -> str:
    return f"{PREFIX}metrics:hist:{name}"


# --- autoscaler ---------------------------------------------------------------------------


# JSON list of [timestamp, recommended replicas], oldest first. TTL: scale_history_ttl —
# the stabilisation window plus an hour, refreshed every cycle. A healer stopped for longer
# loses it, and scale_policy.decide then holds scale-downs until a full window is seen again.
def scale_history(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}scale:history:{_on(host, sid)}"


def scale_history_ttl(window: float) -> int:
    return int(window) + HOUR


# Float timestamp of the last replica change (drives the cooldown). TTL SCALE_LAST_TTL: a
# week is far beyond any scale cooldown, so an expired key never shortens one.
def scale_last(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}scale:last:{_on(host, sid)}"


SCALE_LAST_TTL = 7 * DAY


# Hash sid → JSON of the latest decision (replicas, desired, metric value, reason, queues).
# Rewritten whole every cycle, so services that stop being autoscaled drop out.
# TTL scale_status_ttl: three scaler intervals, at least five minutes: a stopped scaler
# shows as no data.
# One per host: each host scales its own services.
def scale_status(host: HostId) -> str:
    return f"{PREFIX}scale:status:{host}"


def scale_status_ttl(scaler_interval: float) -> int:
    return max(300, int(3 * scaler_interval))


# JSON list of [timestamp, replicas added] of the autoscaler's own scale-ups: the scale-up
# rate limit counts those of the last period. TTL SCALE_UPS_TTL, rewritten with each
# scale-up; far longer than any period, and an expired list only means the next scale-up may
# double again.
def scale_ups(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}scale:ups:{_on(host, sid)}"


SCALE_UPS_TTL = HOUR


# "1" while the autoscaler holds the service at zero replicas: its last container stopped,
# kept as the template, and the service paused so the probe does not start it again.
# No TTL: it lasts as long as the zero does (removed by the scale-up that wakes it).
def scale_parked(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}scale:parked:{_on(host, sid)}"


# Hash sid → JSON of a queue-scaled service's Watch (healer.core.scaling.trigger): what the
# beat's between-cycles check compares the backlog with. Rewritten whole by every full cycle,
# so services no longer queue-scaled drop out. TTL scale_status_ttl, as the status.
# One per host, like the status.
def scale_watch(host: HostId) -> str:
    return f"{PREFIX}scale:watch:{host}"


# Marker of a scale cycle asked for by the check (SET NX): one per service per
# SCALE_TRIGGER_HOLD seconds, however many ticks see the backlog before the cycle has acted.
# TTL SCALE_TRIGGER_HOLD.
def scale_trigger(host: HostId, sid: ServiceId) -> str:
    return f"{PREFIX}scale:trigger:{_on(host, sid)}"


SCALE_TRIGGER_HOLD = 5


# --- sustained resource use ---------------------------------------------------------------

RESOURCE_PREFIX = f"{PREFIX}res:"


# Previous sample (JSON), the base of the CPU and network rates. TTL: the stale-after gap
# (about five reconcile intervals), rewritten every cycle; once it expires rates start over
# rather than average over an unwatched gap.
def resource_prev(cid: ContainerId) -> str:
    return f"{RESOURCE_PREFIX}prev:{cid}"


# When a condition was first seen on a container (epoch seconds). TTL: the stale-after gap,
# refreshed by every cycle that still sees it, deleted by one that does not: a gap longer
# than that (healer down) restarts the window instead of counting unobserved time.
def resource_over(cid: ContainerId, condition: Condition) -> str:
    return f"{RESOURCE_PREFIX}over:{cid}:{condition.value}"


# --- alerts -------------------------------------------------------------------------------


# Delivery dedupe: one key per (fingerprint, startsAt[, resolved]); its value is the
# outcome, so a re-delivery answers like the first one. TTL ALERT_SEEN_TTL — but only
# ALERT_PENDING_TTL while the first delivery is being handled, so a crash mid-request
# cannot turn Alertmanager's retry into a duplicate.
def alert_seen(dedupe_key: str, resolved: bool) -> str:
    return f"{PREFIX}alert:seen:{dedupe_key}{':resolved' if resolved else ''}"


# A day: longer than any Alertmanager retry or repeat_interval.
ALERT_SEEN_TTL = DAY
# A minute: far longer than one webhook request takes to handle (Alertmanager's own
# request timeout is shorter), short enough that its retry after a crash is acted on.
ALERT_PENDING_TTL = 60


# Suppression window after an alert triggered a repair of `host/project/service`. TTL: the
# window itself.
def alert_suppress(qualified: str, action: str) -> str:
    return f"{PREFIX}alert:suppress:{qualified}:{action}"


def alert_rate(slot: int) -> str:
    """Alert actions queued in one minute slot, across the cluster."""
    return f"{PREFIX}alert:rate:{slot}"


# Liveness of each role on a host. TTL: 3 × its beat.
def heartbeat(role: str, host: HostId) -> str:
    return f"{PREFIX}heartbeat:{role}:{host}"


# Event-watcher resume point (last event time, seconds) so a reconnect loses nothing. TTL
# EVENTS_CURSOR_TTL; the watcher never replays more than EVENTS_REPLAY_MAX anyway.
# One per host: each watcher follows its own engine.
def events_cursor(host: HostId) -> str:
    return f"{PREFIX}events:cursor:{host}"


EVENTS_CURSOR_TTL = DAY
# The engine keeps a bounded event log; an hour back covers any Redis or engine restart, and
# the reconcile probe catches whatever is older.
EVENTS_REPLAY_MAX = HOUR

# RedBeat's schedule and lock, under the healer's prefix (RedBeat sets their TTLs: the lock
# expires after redbeat_lock_timeout). One set per beat scope: beats over different host
# patterns (HEALER_BEAT_HOSTS) must not share a lock, or only one of them would ever fire.
REDBEAT_PREFIX = f"{PREFIX}redbeat"


def redbeat_prefix(patterns: tuple[str, ...]) -> str:
    if not patterns:
        return REDBEAT_PREFIX
    scope = hashlib.sha256(",".join(sorted(patterns)).encode()).hexdigest()[:12]
    return f"{REDBEAT_PREFIX}:{scope}"


# --- the host registry ------------------------------------------------------------------

# Sorted set host → time of its last heartbeat: the hosts the cluster knows, live or not
# (a stopped heartbeat is what makes a host `host_down`). TTL HOST_FORGET_AFTER, refreshed
# by every heartbeat; members older than that are dropped on write.
HOSTS = f"{PREFIX}hosts"
# A week: a host down over a long weekend is still reported, not silently forgotten;
# `healer hosts --forget` retires a decommissioned one sooner.
HOST_FORGET_AFTER = 7 * DAY


# What a live host announces (engine name, DOCKER_HOST, agent pid). TTL: the host's
# down-after period (about two heartbeat intervals): it exists only while the host is up.
def host_info(host: HostId) -> str:
    return f"{PREFIX}host:{host}"


# The project/service ids a host served at its last reconcile, so the API can resolve and
# route ids for hosts whose engine it cannot see, even while the host is down.
# TTL HOST_FORGET_AFTER, replaced by every reconcile.
def host_services(host: HostId) -> str:
    return f"{PREFIX}host:{host}:services"


# --- ordered recovery after an engine restart (healer.engine.boot.recovery) ---------------


# Hash container id → JSON {sid}: the containers meant to run (seen running, not stopped by
# hand, not removed). TTL BOOT_INTENT_TTL, refreshed by every reconcile: it must outlive the
# longest outage after which a restart should still be recovered in order (a host switched
# off for the weekend), and lets the record of a project that no longer exists go by itself.
# One engine restarts at a time: every boot key belongs to the host whose engine it is.
def intent(host: HostId, project: str) -> str:
    return f"{PREFIX}boot:intent:{_on(host, project)}"


def intent_pattern(host: HostId) -> str:
    return f"{PREFIX}boot:intent:{host}/*"


BOOT_INTENT_TTL = 30 * DAY


# Engine time (its /info SystemTime) when the events watcher last saw the engine answer.
# TTL BOOT_INTENT_TTL, like the intent it is compared with.
def engine_alive(host: HostId) -> str:
    return f"{PREFIX}boot:engine_alive:{host}"


# Set while a recovery of the project is detected or running; the reconcile leaves the
# project to it. TTL Settings.boot_deadline + 60 s when the restart is found (the worker may
# still be starting after a reboot), then Settings.lock_ttl + 60 s refreshed by every poll of
# the recovery: a recovery whose worker died frees the project within a lock lifetime.
def booting(host: HostId, project: str) -> str:
    return f"{PREFIX}boot:booting:{_on(host, project)}"


# Owner-token lock: one recovery per project. TTL Settings.lock_ttl, extended every poll.
def boot_lock(host: HostId, project: str) -> str:
    return f"{PREFIX}boot:lock:{_on(host, project)}"


# JSON of the running (or last) recovery of a project, for `healer status`. TTL: the deadline
# while it runs, BOOT_STATUS_TTL once it ended (the last one stays visible for a day).
def boot_status(host: HostId, project: str) -> str:
    return f"{PREFIX}boot:status:{_on(host, project)}"


# Set of the host's projects with a status; TTL BOOT_STATUS_TTL.
def boot_statuses(host: HostId) -> str:
    return f"{PREFIX}boot:statuses:{host}"


BOOT_STATUS_TTL = DAY

# Hash "duration|host|project" → seconds of the last recovery,
# "timeouts|host|project|service|blocker" → count, "running|host|project" → 0/1. TTL
# METRIC_TTL, refreshed on every write.
BOOT_METRICS = f"{PREFIX}metrics:boot"


# Repair-storm brake (healer.core.repair.storm), one per host: a storm is one engine's services
# failing together, and another host's healthy services must not dilute (or its storm
# brake) this host's repairs.
# Sorted set sid → last time seen unhealthy; TTL the storm window + 60 s, refreshed by every
# unhealthy repair.
def storm_unhealthy(host: HostId) -> str:
    return f"{PREFIX}storm:unhealthy:{host}"


# Managed services of this host, written by each reconcile. TTL 3 reconcile intervals + 30 s.
def storm_managed(host: HostId) -> str:
    return f"{PREFIX}storm:managed:{host}"


# The one unhealthy-repair allowed per trickle interval while braked. TTL: the interval.
def storm_trickle(host: HostId) -> str:
    return f"{PREFIX}storm:trickle:{host}"


# Present while the brake is engaged (value: why). TTL: the storm window, so it lifts by
# itself once no service is seen unhealthy any more.
def storm_braked(host: HostId) -> str:
    return f"{PREFIX}storm:braked:{host}"


# Beside storm_braked, same TTL: the kinds of evidence of overload that engaged the brake
# (healer.core.overload.evidence.Evidence), comma-separated.
def storm_evidence(host: HostId) -> str:
    return f"{PREFIX}storm:evidence:{host}"


# The host's CPU/IO pressure (PSI avg10, JSON) read when the first service of a storm turned
# unhealthy: pressure read later is partly the repairs' own doing. TTL the storm window + 60 s,
# rewritten by the first unhealthy service of the next storm.
def storm_onset(host: HostId) -> str:
    return f"{PREFIX}storm:onset:{host}"
