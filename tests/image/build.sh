#!/usr/bin/env bash
# Build the test image (default tag compose-healer-test/busybox:latest) from Debian's static
# busybox. No registry is involved: the Dockerfile starts FROM scratch.
#
#   tests/image/build.sh            build only if the tag is missing
#   tests/image/build.sh --force    rebuild even if it exists
#
# Env: HEALER_TEST_IMAGE (tag), BUSYBOX (path of a statically linked busybox, /bin/busybox).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tag=${HEALER_TEST_IMAGE:-compose-healer-test/busybox:latest}
busybox=${BUSYBOX:-/bin/busybox}

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

if (( ! force )) && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "test image $tag: present"
  exit 0
fi

[[ -x $busybox ]] || { echo "error: $busybox not found: apt-get install busybox-static" >&2; exit 1; }
# FROM scratch has no libc: a dynamically linked busybox (Debian's `busybox` package) would
# build fine and then fail in every container with "no such file or directory".
if ldd "$busybox" >/dev/null 2>&1; then
  echo "error: $busybox is dynamically linked: apt-get install busybox-static" >&2
  exit 1
fi

previous=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$ctx/Dockerfile"
cp "$busybox" "$ctx/busybox"

# The classic builder: dockerd 20.10 here has no buildx, and scratch needs nothing pulled.
# Its deprecation notice goes to stderr on every build, so the output is shown only on failure.
if ! out=$(DOCKER_BUILDKIT=0 docker build --quiet --force-rm --tag "$tag" "$ctx" 2>&1); then
  printf '%s\n' "$out" >&2
  echo "error: docker build of $tag failed" >&2
  exit 1
fi
# A rebuild must not leave the old image behind as a dangling one: disk-cleanup tests count them.
current=$(docker image inspect --format '{{.Id}}' "$tag")
if [[ -n $previous && $previous != "$current" ]]; then
  docker image rm "$previous" >/dev/null 2>&1 || true
fi
echo "test image $tag: built"
