#!/usr/bin/env bash
# `npm test`: the whole suite from a clean clone (SPEC §11): install (idempotent) →
# PostgreSQL reachable → type check → lint → jest (which starts its own Temporal dev server in
# test/support/globalSetup.ts). Ends with one plain line "N passed, N failed".
# Extra arguments go to jest, e.g. `npm test -- test/unit`. SKIP_TYPECHECK=1 skips tsc,
# SKIP_LINT=1 skips ESLint (`npm run lint` runs it alone).
set -Euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

say() { printf '[test] %s\n' "$*"; }
# Failing before jest still ends with the summary line, so CI never sees a silent run.
fail_early() {
  printf '[test] ERROR: %s\n' "$*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

bash scripts/setup.sh || fail_early "setup failed"

# --- PostgreSQL at 127.0.0.1:5432 (globalSetup creates a fresh database there) ---------
pg_up() {
  if command -v pg_isready > /dev/null; then
    pg_isready -q -h 127.0.0.1 -p 5432 -t 2
  else
    timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5432' 2> /dev/null
  fi
}
if ! pg_up; then
  if command -v pg_ctlcluster > /dev/null && [ -d /etc/postgresql ]; then
    say "PostgreSQL is down at 127.0.0.1:5432; starting the local cluster"
    for v in /etc/postgresql/*/; do pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true; done
    for _ in $(seq 1 60); do pg_up && break; sleep 0.5; done
  fi
  pg_up || fail_early "PostgreSQL is not reachable at 127.0.0.1:5432"
fi

# --- type check ---------------------------------------------------------------------
tsc_failed=0
if [ "${SKIP_TYPECHECK:-0}" != 1 ]; then
  say "type check (tsc --noEmit -p .)"
  if ! node_modules/.bin/tsc --noEmit -p .; then
    tsc_failed=1
    say "type check FAILED (counted as one failure below); running the tests anyway"
  fi
fi

# --- lint (ESLint + typescript-eslint, eslint.config.mjs) ------------------------------
lint_failed=0
if [ "${SKIP_LINT:-0}" != 1 ]; then
  say "lint (eslint)"
  if ! node_modules/.bin/eslint --max-warnings 0 .; then
    lint_failed=1
    say "lint FAILED (counted as one failure below); running the tests anyway"
  fi
fi

# --- jest ---------------------------------------------------------------------------
RESULTS=test-results/jest.json
mkdir -p test-results
rm -f "$RESULTS" # a stale file must not pass for this run's results
jest_rc=0
node_modules/.bin/jest --ci --json --outputFile="$RESULTS" "$@" || jest_rc=$?

if [ ! -s "$RESULTS" ]; then
  say "jest produced no $RESULTS (exit status $jest_rc): see jest's output above (no tests found, globalSetup failed, crash…)"
  echo "0 passed, $((1 + tsc_failed + lint_failed)) failed"
  exit 1
fi

# Failed tests, plus suites that failed without a failing test (a suite that crashes on
# import, or whose hooks throw): those would otherwise count as nothing.
read -r passed failed < <(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const crashed = (r.testResults || []).filter(
    (s) => s.status === "failed" && !(s.assertionResults || []).some((a) => a.status === "failed"),
  ).length;
  console.log(r.numPassedTests || 0, (r.numFailedTests || 0) + Math.max(crashed, r.numRuntimeErrorTestSuites || 0));
' "$RESULTS") || fail_early "could not read $RESULTS"

failed=$((failed + tsc_failed + lint_failed))
# Jest can fail with no failing test (no tests found, open handles…): never report green then.
if [ "$jest_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  say "jest exited with status $jest_rc without a failing test (counted as one failure)"
  failed=1
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
