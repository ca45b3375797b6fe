"""Every Redis key the healer writes, with its lifetime. Nothing else builds key strings.

Rule: anything that counts or expires carries a TTL set in the same MULTI/Lua call that
creates it. The only keys without a TTL are operator intent (pause flags) and the bounded
history stream. A TTL is either a named constant here, with the reason for its size, or a
function of the settings that bound the work the key describes.
"""

from __future__ import annotations

from healer.core.model import Condition, ContainerId, ServiceId

PREFIX = "healer:"
HOUR = 3600
DAY = 86400


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


# Set while a service is down, so its return can restart dependents. TTL: WAS_DOWN_TTL.
def was_down(sid: ServiceId) -> str:
    return f"{PREFIX}was_down:{sid}"


# A dependency down for longer than a day is an outage for an operator, not for a restart of
# its dependents; a probe that still sees it down re-sets the mark anyway.
WAS_DOWN_TTL = DAY


# Operator pause flags: no TTL — an operator's "leave it alone" must not silently expire.
PAUSED_ALL = f"{PREFIX}paused:*all*"


def paused(sid: ServiceId) -> str:
    return f"{PREFIX}paused:{sid}"


# Set by the events watcher on a `stop` the healer did not issue. TTL: MANUAL_STOP_TTL.
def manual_stop(cid: ContainerId) -> str:
    return f"{PREFIX}manual_stop:{cid}"


# A hand-stopped container stays down this long at most (a month of "I stopped it on
# purpose"); the next `start` event clears it sooner.
MANUAL_STOP_TTL = 30 * DAY


# When a container was first seen `restarting`. TTL: restarting_since_ttl — it must outlive
# the grace and then the longest backoff wait (a stuck container whose repair waits out a
# backoff is still stuck when the wait ends), plus an hour of slack for missed probes.
def restarting_since(cid: ContainerId) -> str:
    return f"{PREFIX}restarting_since:{cid}"


def restarting_since_ttl(restarting_grace: float, backoff_max: float) -> int:
    return int(restarting_grace + backoff_max + HOUR)


# Sorted set of die-event times for crash-loop detection. TTL: crashloop_window.
def dies(sid: ServiceId) -> str:
    return f"{PREFIX}dies:{sid}"


# Marks the healer's own stop/start so the watcher does not take it for a hand stop.
# TTL: the lock TTL of the action that sets it (a repair's lock is stretched to the repair's
# budget, healer.core.work.repair_budget; the scale lock for a replica removal): the action
# cannot outlast its lock, and the action deletes the mark when it ends, so the TTL only
# matters when a worker dies mid-action.
def acting(cid: ContainerId) -> str:
    return f"{PREFIX}acting:{cid}"


# A skipped decision already recorded with this reason. TTL: SKIP_DEDUPE_TTL.
def skip_seen(sid: ServiceId, condition: str, reason: str) -> str:
    return f"{PREFIX}skip_seen:{sid}:{condition}:{reason}"


# Five minutes: ten reconcile probes at the default interval say the same thing once, and an
# operator reading the history still sees a still-true skip every few minutes.
SKIP_DEDUPE_TTL = 300


# A repair of (service, condition) is queued or running: probes do not queue another.
# TTL: Settings.lock_ttl (a lost task frees it); the repair deletes it when it ends.
def pending(sid: ServiceId, condition: Condition) -> str:
    return f"{PREFIX}pending:{sid}:{condition.value}"


# Repair slots in use (sorted set of owner tokens by expiry). TTL: Settings.lock_ttl.
REPAIR_SLOTS = f"{PREFIX}repair_slots"

# The adaptive repair concurrency limit (hash of healer.core.concurrency.LimitState).
# TTL: repair_limit.LIMIT_TTL, refreshed by every repair: after an hour without one the next
# mass failure starts from the initial limit again, since the engine may have changed.
REPAIR_LIMIT = f"{PREFIX}repair_limit"


# A delayed re-probe is scheduled for this service. TTL: the wait itself.
def reprobe(sid: ServiceId) -> str:
    return f"{PREFIX}reprobe:{sid}"


# Ad-hoc request record (status, outcome, detail). TTL: REQUEST_TTL.
def request(request_id: str) -> str:
    return f"{PREFIX}request:{request_id}"


# A day: `healer repair --wait` and `GET /requests/{id}` read it within minutes; a day
# leaves room for a human to look the next morning.
REQUEST_TTL = DAY


# Last observed snapshot of a service (JSON). TTL: snapshot_ttl — three reconcile intervals,
# so a dead worker shows up as stale (missing) status rather than as old data.
def snapshot(sid: ServiceId) -> str:
    return f"{PREFIX}snapshot:{sid}"


def snapshot_ttl(watchdog_interval: float) -> int:
    return int(max(3 * watchdog_interval, 30))


SNAPSHOTS = f"{PREFIX}snapshots"  # set of sids with a snapshot; TTL like the snapshots

# Decision log, bounded by MAXLEN and trimmed by age (MINID) from beat.
HISTORY = f"{PREFIX}history"

# --- metrics (read by the API's collector at scrape time) ---------------------------------

# Counters behind the Prometheus series; TTL METRIC_TTL, refreshed on every write: a month
# of no repair at all resets them, which Prometheus' rate() handles like a restart.
REPAIR_COUNTS = f"{PREFIX}metrics:repairs"
DECISION_COUNTS = f"{PREFIX}metrics:decisions"
LAST_REPAIR = f"{PREFIX}metrics:last_repair"
METRIC_TTL = 30 * DAY
# Counter hash "sid|up" / "sid|down". TTL METRIC_TTL, refreshed on write.
SCALE_EVENTS = f"{PREFIX}metrics:scale_events"
# Bytes freed by the disk cleanup, a plain counter. TTL METRIC_TTL, refreshed on write.
CLEANUP_BYTES = f"{PREFIX}metrics:cleanup_bytes"
# Hash path → used ratio. TTL: disk_usage_ttl, three disk checks (stale → gone).
DISK_USAGE = f"{PREFIX}metrics:disk"


def disk_usage_ttl(disk_interval: float) -> int:
    return 3 * int(disk_interval) + 60


# Hash "sid|container|cpu|memory|network" → ratio (network: errors/s). Rewritten whole every
# reconcile; TTL snapshot_ttl (three reconciles), like the snapshots it sits beside.
RESOURCE_RATIOS = f"{PREFIX}metrics:resources"
# Hash "restarts|sid|container" → count, "oom|sid|container" → 0/1, from the events
# watcher. TTL METRIC_TTL, refreshed on write.
CONTAINER_EVENTS = f"{PREFIX}metrics:container_events"
# Sorted set worker hostname → last Celery heartbeat (unix time); members older than
# WORKER_FRESH seconds count as offline, older than an hour are dropped. TTL METRIC_TTL.
WORKERS = f"{PREFIX}metrics:workers"
# Hash "sid|kind" → replicas (current, desired, min, max), rewritten whole with the scale
# status. TTL scale_status_ttl.
REPLICAS = f"{PREFIX}metrics:replicas"


# Histogram buckets of one series in one hash. TTL METRIC_TTL, refreshed on write.
def histogram(name: str) -> str:
    return f"{PREFIX}metrics:hist:{name}"


# --- autoscaler ---------------------------------------------------------------------------


# JSON list of [timestamp, recommended replicas], oldest first. TTL: scale_history_ttl —
# the stabilisation window plus an hour, refreshed every cycle. A healer stopped for longer
# loses it, and scale_policy.decide then holds scale-downs until a full window is seen again.
def scale_history(sid: ServiceId) -> str:
    return f"{PREFIX}scale:history:{sid}"


def scale_history_ttl(window: float) -> int:
    return int(window) + HOUR


# Float timestamp of the last replica change (drives the cooldown). TTL SCALE_LAST_TTL: a
# week is far beyond any scale cooldown, so an expired key never shortens one.
def scale_last(sid: ServiceId) -> str:
    return f"{PREFIX}scale:last:{sid}"


SCALE_LAST_TTL = 7 * DAY

# Hash sid → JSON of the latest decision (replicas, desired, metric value, reason, queues).
# Rewritten whole every cycle, so services that stop being autoscaled drop out.
# TTL scale_status_ttl: three scaler intervals, at least five minutes: a stopped scaler
# shows as no data.
SCALE_STATUS = f"{PREFIX}scale:status"


def scale_status_ttl(scaler_interval: float) -> int:
    return max(300, int(3 * scaler_interval))


# JSON list of [timestamp, replicas added] of the autoscaler's own scale-ups: the scale-up
# rate limit counts those of the last period. TTL SCALE_UPS_TTL, rewritten with each
# scale-up; far longer than any period, and an expired list only means the next scale-up may
# double again.
def scale_ups(sid: ServiceId) -> str:
    return f"{PREFIX}scale:ups:{sid}"


SCALE_UPS_TTL = HOUR

# Hash sid → JSON of a queue-scaled service's Watch (healer.core.scale_trigger): what the
# beat's between-cycles check compares the backlog with. Rewritten whole by every full cycle,
# so services no longer queue-scaled drop out. TTL scale_status_ttl, as the status.
SCALE_WATCH = f"{PREFIX}scale:watch"


# Marker of a scale cycle asked for by the check (SET NX): one per service per
# SCALE_TRIGGER_HOLD seconds, however many ticks see the backlog before the cycle has acted.
# TTL SCALE_TRIGGER_HOLD.
def scale_trigger(sid: ServiceId) -> str:
    return f"{PREFIX}scale:trigger:{sid}"


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


# Suppression window after an alert triggered a repair. TTL: the window itself.
def alert_suppress(sid: str, alertname: str) -> str:
    return f"{PREFIX}alert:suppress:{sid}:{alertname}"


# Liveness of each role. TTL: 3 × its beat.
def heartbeat(role: str) -> str:
    return f"{PREFIX}heartbeat:{role}"


# Event-watcher resume point (last event time, seconds) so a reconnect loses nothing. TTL
# EVENTS_CURSOR_TTL; the watcher never replays more than EVENTS_REPLAY_MAX anyway.
EVENTS_CURSOR = f"{PREFIX}events:cursor"
EVENTS_CURSOR_TTL = DAY
# The engine keeps a bounded event log; an hour back covers any Redis or engine restart, and
# the reconcile probe catches whatever is older.
EVENTS_REPLAY_MAX = HOUR

# RedBeat's schedule and lock, under the healer's prefix (RedBeat sets its own TTLs).
REDBEAT_PREFIX = f"{PREFIX}redbeat"


# --- ordered recovery after an engine restart (healer.engine.boot) ---------------------------


# Hash container id → JSON {sid}: the containers meant to run (seen running, not stopped by
# hand, not removed). TTL BOOT_INTENT_TTL, refreshed by every reconcile: it must outlive the
# longest outage after which a restart should still be recovered in order (a host switched
# off for the weekend), and lets the record of a project that no longer exists go by itself.
def intent(project: str) -> str:
    return f"{PREFIX}boot:intent:{project}"


def intent_pattern() -> str:
    return f"{PREFIX}boot:intent:*"


BOOT_INTENT_TTL = 30 * DAY

# Engine time (its /info SystemTime) when the events watcher last saw the engine answer.
# TTL BOOT_INTENT_TTL, like the intent it is compared with.
ENGINE_ALIVE = f"{PREFIX}boot:engine_alive"


# Set while a recovery of the project is detected or running; the reconcile leaves the
# project to it. TTL Settings.boot_deadline + 60 s when the restart is found (the worker may
# still be starting after a reboot), then Settings.lock_ttl + 60 s refreshed by every poll of
# the recovery: a recovery whose worker died frees the project within a lock lifetime.
def booting(project: str) -> str:
    return f"{PREFIX}boot:booting:{project}"


# Owner-token lock: one recovery per project. TTL Settings.lock_ttl, extended every poll.
def boot_lock(project: str) -> str:
    return f"{PREFIX}boot:lock:{project}"


# JSON of the running (or last) recovery of a project, for `healer status`. TTL: the deadline
# while it runs, BOOT_STATUS_TTL once it ended (the last one stays visible for a day).
def boot_status(project: str) -> str:
    return f"{PREFIX}boot:status:{project}"


BOOT_STATUSES = f"{PREFIX}boot:statuses"  # set of projects with a status; TTL BOOT_STATUS_TTL
BOOT_STATUS_TTL = DAY

# Hash "duration|project" → seconds of the last recovery, "timeouts|project|service|blocker"
# → count, "running|project" → 0/1. TTL METRIC_TTL, refreshed on every write.
BOOT_METRICS = f"{PREFIX}metrics:boot"

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
