#!/usr/bin/env bash
# `npm run test:faults`: the fault-injection suite (test/faults/run.ts) in the production shape:
# its own PostgreSQL cluster (initdb + pg_ctl on a free port), its own Temporal dev server on a
# SQLite file, the API, the worker and a webhook receiver as separate processes. Installs what
# it needs first (scripts/setup.sh). Ends with one plain line "N passed, N failed" (scenarios).
# Extra arguments go to the suite, e.g. `npm run test:faults -- --only worker-kill --journeys 50`.
set -Euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

if ! bash scripts/setup.sh; then
  echo "[faults] ERROR: setup failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
exec node_modules/.bin/tsx test/faults/run.ts "$@"
