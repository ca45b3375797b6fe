#!/usr/bin/env bash
# Make this Debian bookworm machine ready to run and test compose-healer, as root:
#   1. Debian packages: redis-server, docker.io, busybox-static, prometheus (promtool),
#      prometheus-alertmanager (amtool), haproxy (the socket proxy's tests), debootstrap
#      (scripts/stack.sh builds the stack's base image) - only what is missing;
#   2. Redis on 127.0.0.1:6379, started if it does not answer;
#   3. the Docker engine, started in the background if it does not answer;
#   4. the project and its dev tools: pip install -e '.[dev]', and the example repair
#      strategy plugin the tests use: pip install -e tests/plugins/example_strategy;
#   5. the test image (tests/image/build.sh);
#   6. the compose stack's images (deploy/images/build.sh --demo: a debootstrap base, a
#      wheelhouse, Debian packages; cached, so only changed inputs rebuild), kept for
#      tests/e2e/test_stack.py like the test image.
# Safe to run again: each step checks first and does nothing when all is in place.
#
# Options: --no-test-image (skip steps 5 and 6; scripts/run.sh uses it).
# Env: PYTHON (interpreter, default python3), HEALER_STATE_DIR (logs and pid files,
#      default /var/tmp/compose-healer), HEALER_DOCKERD_TIMEOUT (seconds, default 60),
#      HEALER_SKIP_INTEGRATION=1 (skip steps 2, 3, 5 and 6: unit tests need none of them).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root=$(pwd)

python=${PYTHON:-python3}
state_dir=${HEALER_STATE_DIR:-/var/tmp/compose-healer}
dockerd_timeout=${HEALER_DOCKERD_TIMEOUT:-60}
build_test_image=1
[[ ${1:-} == --no-test-image ]] && build_test_image=0

log() { printf '[provision] %s\n' "$*"; }
die() {
  printf '[provision] ERROR: %s\n' "$*" >&2
  exit 1
}

mkdir -p "$state_dir"

# --- 1. Debian packages --------------------------------------------------------------------

packages=(redis-server docker.io busybox-static prometheus prometheus-alertmanager haproxy debootstrap rabbitmq-server prometheus-redis-exporter)

installed() {
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

install_packages() {
  local missing=() pkg
  for pkg in "${packages[@]}"; do
    installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    log "packages: all present"
    return
  fi
  [[ $(id -u) == 0 ]] || die "installing ${missing[*]} needs root"
  log "packages: installing ${missing[*]}"
  # Package scripts must not start prometheus, alertmanager or a second redis as services:
  # this script starts exactly what the project needs. policy-rc.d is the Debian way.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    own_policy=1
  fi
  local apt_log=$state_dir/apt.log rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  } >"$apt_log" 2>&1 || rc=$?
  ((own_policy)) && rm -f "$policy"
  if ((rc != 0)); then
    tail -n 30 "$apt_log" >&2
    die "apt-get failed (exit $rc); full log: $apt_log"
  fi
  log "packages: installed"
}

# --- 2. Redis ------------------------------------------------------------------------------

redis_up() { [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]]; }

start_redis() {
  if redis_up; then
    log "redis: answering on 127.0.0.1:6379"
    return
  fi
  log "redis: starting on 127.0.0.1:6379 (log $state_dir/redis.log)"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir "$state_dir" \
    --logfile "$state_dir/redis.log" --pidfile "$state_dir/redis.pid" >/dev/null
  local i
  for ((i = 0; i < 100; i++)); do
    redis_up && {
      log "redis: up"
      return
    }
    sleep 0.1
  done
  tail -n 20 "$state_dir/redis.log" >&2 || true
  die "redis-server did not answer within 10 s; log: $state_dir/redis.log"
}

# --- 3. Docker engine ----------------------------------------------------------------------

docker_up() { docker info >/dev/null 2>&1; }

start_dockerd() {
  if docker_up; then
    log "docker: engine answering"
    return
  fi
  local pid_file=$state_dir/dockerd.pid log_file=$state_dir/dockerd.log pid="" file
  # A dockerd that is still coming up (ours from a previous run, or anyone's: dockerd writes
  # /var/run/docker.pid) is waited for; a second one would only fail on that pid file.
  for file in "$pid_file" /var/run/docker.pid; do
    if [[ -s $file ]] && kill -0 "$(cat "$file")" 2>/dev/null; then
      pid=$(cat "$file")
      break
    fi
  done
  if [[ -n $pid ]]; then
    log "docker: engine (pid $pid) already starting"
  else
    log "docker: starting dockerd (log $log_file)"
    # setsid: the engine outlives this script and ignores signals sent to the caller's group.
    setsid dockerd </dev/null >>"$log_file" 2>&1 &
    pid=$!
    echo "$pid" >"$pid_file"
  fi
  local deadline=$((SECONDS + dockerd_timeout))
  until docker_up; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$log_file" >&2 || true
      die "dockerd (pid $pid) exited; log: $log_file"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$log_file" >&2 || true
      die "dockerd (pid $pid) did not answer within ${dockerd_timeout}s; log: $log_file"
    fi
    sleep 0.5
  done
  log "docker: engine up (pid $pid)"
}

# --- 4. Python package ---------------------------------------------------------------------

# Exit 0 if compose-healer is installed in editable mode from the folder in argv[1]. Run it
# outside the checkout, where the egg-info folder setuptools leaves would shadow the install.
editable_here='
import json, sys
from importlib.metadata import distribution
from pathlib import Path
info = json.loads(distribution("compose-healer").read_text("direct_url.json") or "{}")
sys.exit(info.get("url") != Path(sys.argv[1]).as_uri())
'

pip_install() {
  command -v "$python" >/dev/null || die "$python not found (set PYTHON=...)"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$python is $("$python" -V 2>&1); compose-healer needs Python >= 3.11"
  # pip is skipped while pyproject.toml, this checkout and the interpreter are unchanged and
  # the package still imports from here: an editable install costs a build and PyPI lookups.
  local stamp=$state_dir/pip.stamp want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1) $repo_root $(command -v "$python")"
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]] &&
    (cd / && "$python" -c "$editable_here" "$repo_root") 2>/dev/null; then
    log "python: compose-healer[dev] installed (editable)"
    return
  fi
  log "python: pip install -e '.[dev]'"
  local stdlib extra=()
  stdlib=$("$python" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
  # Debian's own python3 refuses pip installs (PEP 668); this machine is ours to change.
  [[ -f $stdlib/EXTERNALLY-MANAGED ]] && extra+=(--break-system-packages)
  "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${extra[@]}" -e '.[dev]' ||
    die "pip install -e '.[dev]' failed"
  if command -v pyenv >/dev/null; then pyenv rehash 2>/dev/null || true; fi
  echo "$want" >"$stamp"
  log "python: installed"
}

# The example strategy plugin (tests/plugins/example_strategy) exposes entry points in the
# group compose_healer.strategies; the plugin tests need it installed like a user's plugin.
plugin_dir=tests/plugins/example_strategy
plugin_dist=compose-healer-example-strategy

plugin_install() {
  local stamp=$state_dir/plugin.stamp want
  want="$(sha256sum "$plugin_dir/pyproject.toml" | cut -d' ' -f1) $repo_root $(command -v "$python")"
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]] &&
    (cd / && "$python" -c "import importlib.metadata as m; m.distribution('$plugin_dist')") 2>/dev/null; then
    log "python: example strategy plugin installed"
    return
  fi
  log "python: pip install -e $plugin_dir"
  local stdlib extra=()
  stdlib=$("$python" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
  [[ -f $stdlib/EXTERNALLY-MANAGED ]] && extra+=(--break-system-packages)
  "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    "${extra[@]}" -e "$plugin_dir" || die "pip install -e $plugin_dir failed"
  echo "$want" >"$stamp"
  log "python: example strategy plugin installed"
}

# --- 5. test image -------------------------------------------------------------------------

build_image() {
  local out
  out=$(bash tests/image/build.sh) || die "test image build failed"
  log "$out"
}

build_stack_images() {
  local start=$SECONDS
  bash deploy/images/build.sh --demo 2>&1 | sed 's/^/[provision] /' ||
    die "stack images failed to build (deploy/images/build.sh)"
  log "stack images: ready ($((SECONDS - start))s)"
}

install_packages
if [[ ${HEALER_SKIP_INTEGRATION:-} == 1 ]]; then
  log "HEALER_SKIP_INTEGRATION=1: not starting redis or docker, not building the test image"
  pip_install
  plugin_install
else
  start_redis
  start_dockerd
  pip_install
  plugin_install
  if ((build_test_image)); then
    build_image
    build_stack_images
  fi
fi
log "done"
