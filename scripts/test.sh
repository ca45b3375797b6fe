#!/usr/bin/env bash
# The one test command: provision this machine, then lint, type-check, check import contracts
# and run every test suite (unit, integration, e2e, chaos and the soak). Arguments go to pytest,
# e.g.
#   scripts/test.sh -k restart -x
# The tests run in parallel: pytest-xdist with HEALER_TEST_WORKERS processes (default 6; 0
# runs them in one process). Most integration tests wait on Docker rather than on the CPU;
# each worker has its own Redis database, every test its own compose projects and healer
# processes. Tests marked `serial` (CPU burners, latency and rate measurements, engine
# restarts) still run alone: no other test runs meanwhile but the long load-tolerant ones
# marked `alongside` (the compose-stack e2e, the soak). See tests/conftest.py.
# pytest lists the 30 slowest tests; each step says how long it took.
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
  local name=$1 rc=0 started=$SECONDS
  shift
  printf '\n=== %s: %s\n' "$name" "$*"
  "$@" || rc=$?
  if ((rc != 0)); then
    failed+=("$name (exit $rc)")
    printf '=== %s FAILED (exit %d) in %d s\n' "$name" "$rc" "$((SECONDS - started))"
  else
    printf '=== %s: ok in %d s\n' "$name" "$((SECONDS - started))"
  fi
}

step ruff ruff check .
step ruff-format ruff format --check .
step mypy mypy
step import-contracts lint-imports
step docs mkdocs build --strict
workers=${HEALER_TEST_WORKERS:-6}
step pytest "$python" -m pytest -p no:cacheprovider --durations=30 -n "$workers" --dist loadgroup "$@"

if ((${#failed[@]})); then
  printf '\ntest.sh: FAILED: %s\n' "${failed[*]}"
  # pytest exits 5 when it ran no test: that is a failure here too, and it is non-zero anyway.
  exit 1
fi
printf '\ntest.sh: OK in %d s\n' "$SECONDS"
