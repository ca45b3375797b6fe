#!/usr/bin/env bash
# Build every image of the compose stack that this engine does not have, without a registry:
#
#   base     Debian bookworm from `debootstrap --variant=minbase` | tar | docker import, then
#            base.Dockerfile (security updates). Needs root (debootstrap) and the Debian mirror.
#   healer   ./Dockerfile on the base, Python packages from a wheelhouse downloaded here on the
#            host from the lock file deploy/images/requirements.lock (pinned, with hashes; any
#            host Python), so the build needs no PyPI access (TLS-intercepting proxy, air gap).
#            deploy/images/lock.sh updates the lock.
#   redis, prometheus, alertmanager, socket-proxy, redis-exporter[, postgres, postgres-exporter]
#            services.Dockerfile targets: Debian's packages on the base.
#
# Usage: deploy/images/build.sh [--demo] [--rebuild]
#   --demo     also the demo profile's images (postgres, postgres-exporter)
#   --rebuild  rebuild the base and the wheelhouse even when their inputs are unchanged
#              (picks up Debian security updates; the Python packages stay the lock's)
#
# Image names come from the environment (scripts/stack.sh exports .env): HEALER_BASE_IMAGE,
# HEALER_IMAGE, REDIS_IMAGE, PROMETHEUS_IMAGE, ALERTMANAGER_IMAGE, SOCKET_PROXY_IMAGE,
# REDIS_EXPORTER_IMAGE, POSTGRES_IMAGE, POSTGRES_EXPORTER_IMAGE. An image that exists is used
# as it is; a name that is not this project's own (compose-healer/..., compose-healer:...) is
# pulled instead of built. Cache: the base image is rebuilt only when its inputs change (their
# hash is the image label below), the wheelhouse only when the lock or the image's Python changes,
# and every docker build reuses its layer cache.
#
# Env: DOCKER (CLI, default /usr/bin/docker when present), PYTHON (default python3),
#      DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR, HEALER_STACK_CACHE (default .stack-cache).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo_root=$(pwd)

demo=0 rebuild=0
for arg in "$@"; do
  case $arg in
  --demo) demo=1 ;;
  --rebuild) rebuild=1 ;;
  *)
    echo "usage: $0 [--demo] [--rebuild]" >&2
    exit 2
    ;;
  esac
done

log() { printf '[images] %s\n' "$*" >&2; }
die() {
  printf '[images] ERROR: %s\n' "$*" >&2
  exit 1
}

if [[ -z ${DOCKER:-} ]]; then
  DOCKER=docker
  [[ -x /usr/bin/docker ]] && DOCKER=/usr/bin/docker
fi
python=${PYTHON:-python3}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
cache_dir=${HEALER_STACK_CACHE:-$repo_root/.stack-cache}
base_image=${HEALER_BASE_IMAGE:-compose-healer/debian:bookworm}
label=org.compose-healer.inputs

# BuildKit when this CLI can drive it (buildx, or a pre-23 CLI with the engine's built-in
# BuildKit), else the classic builder: the Dockerfiles need nothing either lacks.
# --network host: RUN steps reach the Debian mirror without the default bridge (absent on some
# hosts).
if "$DOCKER" buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=1
elif (($("$DOCKER" version --format '{{.Client.Version}}' | cut -d. -f1) < 23)); then
  export DOCKER_BUILDKIT=1
else
  export DOCKER_BUILDKIT=0
fi
build() { "$DOCKER" build --network host --progress plain "$@" >>"$cache_dir/build.log" 2>&1 ||
  {
    tail -n 40 "$cache_dir/build.log" >&2
    die "docker build $* failed; full log: $cache_dir/build.log"
  }; }
[[ $DOCKER_BUILDKIT == 1 ]] || build() {
  "$DOCKER" build --network host "$@" >>"$cache_dir/build.log" 2>&1 || {
    tail -n 40 "$cache_dir/build.log" >&2
    die "docker build $* failed; full log: $cache_dir/build.log"
  }
}

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
image_id() { "$DOCKER" image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }
image_label() { "$DOCKER" image inspect -f "{{index .Config.Labels \"$label\"}}" "$1" 2>/dev/null || true; }
ours() { [[ $1 == compose-healer/* || $1 == compose-healer:* ]]; }

mkdir -p "$cache_dir"
: >"$cache_dir/build.log"

# --- base ------------------------------------------------------------------------------------

base() {
  local inputs
  inputs=$(
    printf 'bookworm minbase python3,python3-venv,ca-certificates %s %s\n' "$mirror" "$security_mirror"
    cat deploy/images/base.Dockerfile
  )
  inputs=$(sha256sum <<<"$inputs" | cut -c1-16)
  if ((!rebuild)) && [[ $(image_label "$base_image") == "$inputs" ]]; then
    log "base: $base_image is up to date"
    return
  fi
  if ! ours "$base_image"; then
    fetch "$base_image" # yours: Debian bookworm with python3, python3-venv and ca-certificates
    return
  fi
  # shellcheck source=scripts/lib/ensure.sh
  command -v debootstrap >/dev/null || (source "$repo_root/scripts/lib/ensure.sh" && ensure_apt debootstrap)
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  [[ $(id -u) == 0 ]] || die "building $base_image runs debootstrap, which needs root"
  local work rootfs_image=compose-healer/debian-rootfs:bookworm start=$SECONDS
  work=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
  # shellcheck disable=SC2064  # expand now: the trap must remove this very folder
  trap "rm -rf '$work'" EXIT
  log "base: debootstrap bookworm from $mirror (about a minute)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$work/rootfs" "$mirror" >>"$cache_dir/build.log" 2>&1 ||
    die "debootstrap failed; log: $cache_dir/build.log"
  tar -C "$work/rootfs" --numeric-owner -c . | "$DOCKER" import - "$rootfs_image" >/dev/null
  rm -rf "$work"
  trap - EXIT
  build -f deploy/images/base.Dockerfile --build-arg ROOTFS_IMAGE="$rootfs_image" \
    --build-arg DEBIAN_MIRROR="$mirror" --build-arg DEBIAN_SECURITY_MIRROR="$security_mirror" \
    --label "$label=$inputs" -t "$base_image" deploy/images
  "$DOCKER" rmi "$rootfs_image" >/dev/null
  log "base: built $base_image in $((SECONDS - start))s"
}

# --- wheelhouse and healer image ---------------------------------------------------------------

wheelhouse() {
  # In the build context (see .dockerignore), refilled when the lock or the image's Python
  # changes. Exactly the packages of the lock file, checked against its hashes, as wheels for
  # the image's Python: any host Python can download them.
  local dir=$repo_root/.wheelhouse lock=deploy/images/requirements.lock inputs image_python
  image_python=$("$DOCKER" run --rm --network none "$base_image" \
    python3 -c 'import platform; print(platform.python_version())') ||
    die "cannot run python3 in $base_image"
  inputs=$(
    cat "$lock" deploy/images/wheelhouse.py
    echo "$image_python $(uname -m)"
  )
  inputs=$(sha256sum <<<"$inputs" | cut -c1-16)
  if ((!rebuild)) && [[ -f $dir/.inputs && $(cat "$dir/.inputs") == "$inputs" ]]; then
    log "wheelhouse: up to date ($(find "$dir" -name '*.whl' | wc -l) wheels)"
    return
  fi
  local version=${image_python%.*} arch platforms=() glibc
  arch=$(uname -m)
  # Debian bookworm's glibc is 2.36: every manylinux wheel up to that runs in the image.
  for glibc in $(seq 17 36); do platforms+=(--platform "manylinux_2_${glibc}_$arch"); done
  platforms+=(--platform "manylinux2014_$arch" --platform "linux_$arch")
  log "wheelhouse: pip download of $lock for Python $image_python ($arch)"
  rm -rf "$dir" && mkdir -p "$dir"
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: --python-version "$version" --implementation cp \
    --abi "cp${version/./}" --abi abi3 --abi none "${platforms[@]}" \
    --dest "$dir" -r "$lock" >>"$cache_dir/build.log" 2>&1 ||
    die "pip download failed; log: $cache_dir/build.log"
  "$python" deploy/images/wheelhouse.py "$dir" "$lock" >>"$cache_dir/build.log" 2>&1 ||
    die "the wheelhouse does not match $lock; log: $cache_dir/build.log"
  echo "$inputs" >"$dir/.inputs"
  log "wheelhouse: $(find "$dir" -name '*.whl' | wc -l) wheels, exactly the lock's"
}

healer_image() {
  local name=${HEALER_IMAGE:-compose-healer:latest}
  if ! ours "$name"; then
    fetch "$name"
    return
  fi
  wheelhouse
  local old
  old=$(image_id "$name")
  build -f Dockerfile --build-arg BASE_IMAGE="$base_image" -t "$name" .
  log "healer: $name built"
  drop_replaced "$name" "$old"
}

# The image a rebuild took the tag from is left untagged (about 440 MB each time the code
# changed): removed once nothing uses it. No --force: a container still on it keeps it.
drop_replaced() {
  local name=$1 old=$2 new
  new=$(image_id "$name")
  [[ -n $old && $old != "$new" ]] || return 0
  if "$DOCKER" image rm "$old" >/dev/null 2>&1; then
    log "$name: removed the image it replaced (${old:7:12})"
  fi
}

# --- service images ----------------------------------------------------------------------------

fetch() {
  if have_image "$1"; then
    log "$1: present"
  else
    log "$1: pulling"
    "$DOCKER" pull -q "$1" >/dev/null || die "cannot pull $1 (set its name in .env to one of ours to build it)"
  fi
}

service_image() {
  local target=$1 name=$2
  if ! ours "$name"; then
    fetch "$name"
    return
  fi
  local old
  old=$(image_id "$name")
  build -f deploy/images/services.Dockerfile --build-arg BASE_IMAGE="$base_image" \
    --target "$target" -t "$name" .
  log "$target: $name built"
  drop_replaced "$name" "$old"
}

start=$SECONDS
log "builder: $DOCKER with DOCKER_BUILDKIT=$DOCKER_BUILDKIT"
base
healer_image
service_image redis "${REDIS_IMAGE:-compose-healer/redis:debian}"
service_image prometheus "${PROMETHEUS_IMAGE:-compose-healer/prometheus:debian}"
service_image alertmanager "${ALERTMANAGER_IMAGE:-compose-healer/alertmanager:debian}"
service_image socket-proxy "${SOCKET_PROXY_IMAGE:-compose-healer/socket-proxy:debian}"
service_image redis-exporter "${REDIS_EXPORTER_IMAGE:-compose-healer/redis-exporter:debian}"
if ((demo)); then
  service_image postgres "${POSTGRES_IMAGE:-compose-healer/postgres:debian}"
  service_image postgres-exporter "${POSTGRES_EXPORTER_IMAGE:-compose-healer/postgres-exporter:debian}"
fi
log "all images ready in $((SECONDS - start))s"
