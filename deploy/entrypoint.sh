#!/bin/sh
# The image's entrypoint. For the compose stack it only execs the role's command (compose runs
# every role as the unprivileged `healer` user, with REDIS_URL set). For the one-container
# drop-in, as docker-autoheal is run:
#
#   docker run -d -v /var/run/docker.sock:/var/run/docker.sock \
#     -e AUTOHEAL_CONTAINER_LABEL=all [-v healer-data:/data] compose-healer
#
# 1. started as root (the image's default user): join the Docker socket's group, then drop to
#    `healer` (uid 10001) with no capabilities left;
# 2. `healer run` without REDIS_URL/HEALER_REDIS_URL: start a Redis inside the container,
#    bound to 127.0.0.1, its append-only file in /data (mount a volume there to keep it).
set -eu

socket_path() {
  case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
    unix://*) echo "${DOCKER_HOST#unix://}" ;;
    *) echo "" ;;
  esac
}

if [ "$(id -u)" = 0 ]; then
  sock=${DOCKER_HOST:+$(socket_path)}
  sock=${sock:-/var/run/docker.sock}
  groups=10001
  if [ -S "$sock" ]; then
    groups="10001,$(stat -c %g "$sock")"
  fi
  mkdir -p /data && chown 10001:10001 /data
  exec setpriv --reuid=10001 --regid=10001 --groups="$groups" --inh-caps=-all \
    --bounding-set=-all -- "$0" "$@"
fi

if [ "${1:-}" = healer ] && [ "${2:-}" = run ] && [ -z "${REDIS_URL:-}${HEALER_REDIS_URL:-}" ]; then
  redis-server --bind 127.0.0.1 --port 6379 --dir /data --appendonly yes \
    --daemonize yes --logfile /data/redis.log --pidfile /data/redis.pid
  tries=0
  until redis-cli -p 6379 ping >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 100 ]; then
      echo "healer-entrypoint: the built-in Redis did not start; see /data/redis.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "healer-entrypoint: no REDIS_URL given: using the built-in Redis (data in /data)"
  export REDIS_URL=redis://127.0.0.1:6379/0
fi

exec "$@"
