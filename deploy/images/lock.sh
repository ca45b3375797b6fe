#!/usr/bin/env bash
# Update deploy/images/requirements.lock: the healer image's Python packages (pyproject.toml's
# dependencies and deploy/images/requirements.in), pinned with hashes, resolved for the
# image's Python (Debian bookworm's 3.11.2) whatever Python this host has. Uses uv
# (pip install uv). Review the diff, then `scripts/stack.sh up --rebuild`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
command -v uv >/dev/null || {
  echo "lock.sh: uv is not installed (pip install uv)" >&2
  exit 1
}
uv pip compile --quiet --native-tls --generate-hashes --upgrade \
  --python-version "${IMAGE_PYTHON:-3.11.2}" --python-platform "$(uname -m)-unknown-linux-gnu" \
  -o deploy/images/requirements.lock pyproject.toml deploy/images/requirements.in
echo "lock.sh: $(grep -c '==' deploy/images/requirements.lock) packages in deploy/images/requirements.lock"
