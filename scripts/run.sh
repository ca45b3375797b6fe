#!/usr/bin/env bash
# Provision this machine (Redis, Docker engine, the package) and run the healer in the
# foreground: worker, beat, events watcher and API in one process tree. Arguments go to
# `healer run`, e.g. scripts/run.sh --help
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bash "$here/provision.sh" --no-test-image

python=${PYTHON:-python3}
# `healer` is installed beside the interpreter, which need not be on PATH (pyenv shims).
healer="$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/healer"
[[ -x $healer ]] || healer=$(command -v healer) || {
  echo "run.sh: the healer command is not installed" >&2
  exit 1
}
exec "$healer" run "$@"
