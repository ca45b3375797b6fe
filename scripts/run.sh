#!/usr/bin/env bash
# Install compose-healer for production on this Debian host (scripts/install.sh: its own venv
# in /opt/compose-healer, settings in /etc/compose-healer/healer.env, Redis with a user of its
# own, a systemd unit) and run it: worker, beat, Docker events watcher and HTTP API.
#
# Where systemd runs, the unit compose-healer.service runs the healer (enabled at boot,
# restarted if it dies) and this script follows its log; Ctrl-C stops following, not the
# healer (`systemctl stop compose-healer` does). Where systemd does not run (a container),
# this script starts Redis and the Docker engine if they do not answer and runs `healer run`
# in the foreground; Ctrl-C stops it. Arguments go to `healer run`, e.g. scripts/run.sh --agent
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=${HEALER_PREFIX:-/opt/compose-healer}
etc=${HEALER_ETC:-/etc/compose-healer}
state_dir=${HEALER_STATE_DIR:-/var/lib/compose-healer}
env_file=$etc/healer.env

log() { printf '[run] %s\n' "$*"; }
die() {
  printf '[run] ERROR: %s\n' "$*" >&2
  exit 1
}

bash "$here/install.sh"

if [[ -d /run/systemd/system ]]; then
  (($#)) && log "arguments ($*) are ignored under systemd: set them in the unit or $env_file"
  systemctl --no-pager status compose-healer || true
  log "following the healer's log (Ctrl-C stops following; the service keeps running)"
  exec journalctl -fu compose-healer
fi

# --- no systemd: the daemons this host lacks, then the healer in the foreground -------------

mkdir -p "$state_dir"
set -a
# shellcheck source=/dev/null
source "$env_file"
set +a
export HEALER_ENV_FILE=$env_file

# As the Redis user `healer` (scripts/install.sh's; the password through the environment, not
# the command line `ps` shows). With `-` for the user: an anonymous PING.
redis_answer() {
  if [[ $1 == - ]]; then
    redis-cli -h 127.0.0.1 -p 6379 ping 2>&1 || true
  else
    REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p 6379 --user "$1" ping 2>&1 || true
  fi
}

start_redis() {
  [[ $(redis_answer healer) == PONG ]] && return 0
  if [[ $(redis_answer -) == PONG ]]; then
    log "WARNING: the Redis on 127.0.0.1:6379 requires no password and is not ours to change;"
    log "  the healer uses it without one. Give it the users of scripts/install.sh"
    log "  (python -m healer.adapters.store.acl --single-host) and REDIS_URL in $env_file."
    export REDIS_URL=redis://127.0.0.1:6379/0
    return 0
  fi
  if [[ $(redis_answer -) != *"Connection refused"* ]]; then
    die "the Redis on 127.0.0.1:6379 refuses the user healer with the password in $env_file"
  fi
  log "redis: starting on 127.0.0.1:6379 with the user healer of $env_file (log $state_dir/redis.log)"
  # Its users through stdin (`default` off, `healer` with the worker's rights, a hash of the
  # password): nothing secret on the command line.
  "$prefix/venv/bin/python" -m healer.adapters.store.acl --single-host | redis-server - --daemonize yes \
    --bind 127.0.0.1 --port 6379 --dir "$state_dir" --appendonly yes \
    --maxmemory 256mb --maxmemory-policy noeviction --logfile "$state_dir/redis.log" \
    --pidfile "$state_dir/redis.pid" >/dev/null
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(redis_answer healer) == PONG ]] && return 0
    sleep 0.1
  done
  die "redis-server did not answer within 10 s; log: $state_dir/redis.log"
}

start_dockerd() {
  docker info >/dev/null 2>&1 && return 0
  if [[ -s /var/run/docker.pid ]] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    log "docker: an engine is starting; waiting for it"
  else
    log "docker: starting dockerd (log $state_dir/dockerd.log)"
    nohup dockerd >"$state_dir/dockerd.log" 2>&1 &
  fi
  local i
  for ((i = 0; i < 120; i++)); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "the Docker engine did not answer within 60 s; log: $state_dir/dockerd.log"
}

log "systemd is not running here: nothing will restart these after a reboot"
start_redis
start_dockerd
cd "$state_dir"
exec "$prefix/venv/bin/healer" run "$@"
