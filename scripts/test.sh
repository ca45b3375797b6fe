#!/usr/bin/env bash
# The one test command: provision this machine, then lint, type-check, check import contracts
# and run every test suite (unit, integration, e2e). Arguments go to pytest, e.g.
#   scripts/test.sh -k restart -x
# HEALER_SKIP_INTEGRATION=1 skips the integration and e2e tests (they are reported as skipped).
# Exit status: 0 only if every step passed; pytest collecting no test counts as a failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/provision.sh

python=${PYTHON:-python3}
# The tools pip just installed live beside the interpreter; put them first on PATH so the
# right ones run even before a pyenv rehash or with an unusual PATH.
PATH="$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH

failed=()

step() {
  local name=$1 rc=0
  shift
  printf '\n=== %s: %s\n' "$name" "$*"
  "$@" || rc=$?
  if ((rc != 0)); then
    failed+=("$name (exit $rc)")
    printf '=== %s FAILED (exit %d)\n' "$name" "$rc"
  fi
}

step ruff ruff check .
step ruff-format ruff format --check .
step mypy mypy
step import-contracts lint-imports
step docs mkdocs build --strict
step pytest "$python" -m pytest -p no:cacheprovider "$@"

if ((${#failed[@]})); then
  printf '\ntest.sh: FAILED: %s\n' "${failed[*]}"
  # pytest exits 5 when it ran no test: that is a failure here too, and it is non-zero anyway.
  exit 1
fi
printf '\ntest.sh: OK\n'
