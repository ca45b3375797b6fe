#!/usr/bin/env bash
# Production install of compose-healer on a Debian host, as root:
#
#   1. Debian packages that are missing: redis-server, docker.io (unless an engine is already
#      installed), python3-venv;
#   2. the package in a virtual environment of its own, $prefix/venv (default
#      /opt/compose-healer), at the versions of deploy/images/requirements.lock (the image's),
#      with no dev extras and no test plugins;
#   3. the settings file $etc/healer.env (default /etc/compose-healer): a generated Redis
#      password in REDIS_URL (the Redis user `healer`) and a generated HEALER_API_TOKEN when
#      absent; values already there are kept; mode 640, group compose-healer;
#   4. where systemd runs: the system user compose-healer (in the docker group), Redis with
#      the users of /etc/redis/compose-healer.acl (included from redis.conf through
#      /etc/redis/compose-healer.conf): `default` off, `healer` with the worker's rights and
#      nothing dangerous (healer.adapters.store.acl),
#      the unit deploy/systemd/compose-healer.service, and `systemctl enable --now` of
#      redis-server, docker and compose-healer. Where systemd does not run it says so and
#      stops there: scripts/run.sh then starts what is needed in the foreground.
#
# Safe to run again. Usage: scripts/install.sh [--no-packages] [--no-system]
#   --no-packages  skip step 1
#   --no-system    skip step 4 (no user, no Redis configuration, no unit, no systemctl)
# Env: HEALER_PREFIX, HEALER_ETC, HEALER_UNIT_DIR (default /etc/systemd/system),
#      PYTHON (the interpreter the venv is made with, default /usr/bin/python3 or python3).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root=$(pwd)

prefix=${HEALER_PREFIX:-/opt/compose-healer}
etc=${HEALER_ETC:-/etc/compose-healer}
unit_dir=${HEALER_UNIT_DIR:-/etc/systemd/system}
python=${PYTHON:-python3}
[[ -z ${PYTHON:-} && -x /usr/bin/python3 ]] && python=/usr/bin/python3
env_file=$etc/healer.env
lock=$repo_root/deploy/images/requirements.lock
packages=1 system=1
for arg in "$@"; do
  case $arg in
  --no-packages) packages=0 ;;
  --no-system) system=0 ;;
  *)
    sed -n '17,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
  esac
done

log() { printf '[install] %s\n' "$*"; }
die() {
  printf '[install] ERROR: %s\n' "$*" >&2
  exit 1
}
# shellcheck source=scripts/lib/ensure.sh
source "$repo_root/scripts/lib/ensure.sh"

systemd_runs() { [[ -d /run/systemd/system ]]; }
random_secret() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

install_packages() {
  local wanted=(redis-server python3-venv)
  command -v dockerd >/dev/null || wanted+=(docker.io)
  ensure_apt "${wanted[@]}"
}

install_venv() {
  local venv=$prefix/venv
  if [[ ! -x $venv/bin/python ]]; then
    log "venv: creating $venv"
    mkdir -p "$prefix"
    "$python" -m venv "$venv" || die "could not create $venv (apt-get install python3-venv)"
  fi
  local pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
  # The image's lock pins the versions (the same packages as the image), as constraints: only
  # what the package needs is installed, not the image's Flower.
  local constraints=()
  if [[ -f $lock ]]; then
    sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*==[^ ;\\]*\).*/\1/p' "$lock" >"$prefix/constraints.txt"
    constraints=(-c "$prefix/constraints.txt")
  fi
  log "venv: compose-healer, no extras, versions of ${lock#"$repo_root"/}"
  # Built from a copy of the sources, so the checkout gets no build/ or egg-info folders.
  local src
  src=$(mktemp -d)
  cp -r "$repo_root"/{pyproject.toml,README.md,healer,workers,beat} "$src"/
  "${pip[@]}" "${constraints[@]}" "$src" || die "pip could not install compose-healer into $venv"
  rm -rf "$src"
  "$venv/bin/healer" --help >/dev/null || die "$venv/bin/healer does not run"
  log "venv: $venv/bin/healer installed"
}

env_value() { sed -n "s/^$1=//p" "$env_file" | tail -n 1; }
add_env() {
  grep -q "^$1=" "$env_file" && return 0
  printf '%s=%s\n' "$1" "$2" >>"$env_file"
  log "settings: $1 added to $env_file"
}

write_env() {
  mkdir -p "$etc"
  if [[ ! -f $env_file ]]; then
    (umask 077 && printf '# compose-healer settings (docs/configuration.md). Read by systemd and by `healer`\n# through HEALER_ENV_FILE. Keep it secret: it holds the Redis password and the API token.\n' >"$env_file")
  fi
  chmod 640 "$env_file"
  local password
  password=$(env_value REDIS_PASSWORD)
  [[ -n $password ]] || password=$(random_secret)
  add_env REDIS_PASSWORD "$password"
  add_env REDIS_URL "redis://healer:$password@127.0.0.1:6379/0"
  # An earlier install's URL logged in as `default`, which is now off.
  if [[ $(env_value REDIS_URL) == "redis://:$password@127.0.0.1:6379/0" ]]; then
    sed -i "s|^REDIS_URL=redis://:|REDIS_URL=redis://healer:|" "$env_file"
    log "settings: REDIS_URL now logs in as the Redis user healer"
  fi
  add_env HEALER_API_TOKEN "$(random_secret)"
}

configure_redis() {
  local conf=/etc/redis/compose-healer.conf acl=/etc/redis/compose-healer.acl
  local main=/etc/redis/redis.conf
  [[ -f $main ]] || die "$main not found: is redis-server installed?"
  # The users (a password hash, no password): the rules the compose stack's worker has.
  (umask 027 && REDIS_PASSWORD=$(env_value REDIS_PASSWORD) \
    "$prefix/venv/bin/python" -m healer.adapters.store.acl --single-host >"$acl") ||
    die "could not write $acl"
  (umask 027 && printf '# Written by compose-healer scripts/install.sh\naclfile %s\n' "$acl" >"$conf")
  chown root:redis "$conf" "$acl" 2>/dev/null || true
  grep -qx "include $conf" "$main" || printf '\ninclude %s\n' "$conf" >>"$main"
  log "redis: the user healer with the password in $env_file ($acl); default is off"
}

install_system() {
  getent group compose-healer >/dev/null || groupadd --system compose-healer
  id compose-healer >/dev/null 2>&1 ||
    useradd --system --gid compose-healer --home-dir /var/lib/compose-healer \
      --shell /usr/sbin/nologin compose-healer
  getent group docker >/dev/null && usermod -aG docker compose-healer
  chgrp compose-healer "$env_file"
  configure_redis
  mkdir -p "$unit_dir"
  sed -e "s#@PREFIX@#$prefix#g" -e "s#@ETC@#$etc#g" \
    "$repo_root/deploy/systemd/compose-healer.service" >"$unit_dir/compose-healer.service"
  log "systemd: $unit_dir/compose-healer.service"
  systemctl daemon-reload
  systemctl enable --now docker redis-server
  systemctl restart redis-server # picks up the password
  systemctl enable compose-healer
  systemctl restart compose-healer
  log "systemd: redis-server, docker and compose-healer enabled and started"
  log "  status: systemctl status compose-healer; logs: journalctl -u compose-healer"
}

((packages)) && install_packages
install_venv
write_env
if ((system)) && systemd_runs; then
  install_system
elif ((system)); then
  log "systemd is not running here (a container or a minimal host): no unit installed."
  log "  scripts/run.sh starts Redis, the engine and the healer in the foreground instead."
fi
log "done: $prefix/venv/bin/healer, settings in $env_file"
