#!/usr/bin/env bash
# `npm start`: brings the whole local system up from a clean clone (SPEC §10):
# install (idempotent) → PostgreSQL reachable → migrations → Temporal dev server with
# Web UI and search attributes → worker + API. Ctrl-C stops everything it started.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[start] %s\n' "$*" || true; } # never fail: stdout may be a closed pipe at shutdown
die() { printf '[start] ERROR: %s\n' "$*" >&2; exit 1; }

bash scripts/setup.sh

TEMPORAL="$ROOT/.temporal/venv/bin/temporal"
TSX="$ROOT/node_modules/.bin/tsx"
# Local state (Temporal SQLite, PGlite, the audit key); DATA_DIR lets a second copy run beside it.
DATA_DIR="${DATA_DIR:-.data}"
mkdir -p "$DATA_DIR"

# --- configuration: local defaults, anything already in the environment wins ---------
export PORT="${PORT:-8080}"
# No DATABASE_URL: the embedded PGlite database in $DATA_DIR/pglite (src/cli/pglite.ts).
EMBEDDED_DB=0
if [ -z "${DATABASE_URL:-}" ]; then
  EMBEDDED_DB=1
  PGLITE_PORT="${PGLITE_PORT:-5433}"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PGLITE_PORT/postgres"
fi
export DATABASE_URL
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:7233}"
export TEMPORAL_NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
# Local-only default so a webhook receiver on 127.0.0.1 works; production leaves it off.
export WEBHOOK_ALLOW_PRIVATE_NETWORKS="${WEBHOOK_ALLOW_PRIVATE_NETWORKS:-true}"
# The reconciler runs every minute locally (production default: 5m; docs/reliability.md).
export RECONCILE_INTERVAL="${RECONCILE_INTERVAL:-1m}"
TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8233}"
# /metrics on a loopback listener of its own (docs/security.md); set METRICS_TOKEN to also
# serve it, behind that bearer token, on the API's port.
export METRICS_PORT="${METRICS_PORT:-9464}"

# Local secrets, generated once in $DATA_DIR and reused (anything set in the environment wins).
local_secret() { # VAR file "what" node-expression-printing-a-new-secret
  local var="$1" keyfile="$DATA_DIR/$2" what="$3" expr="$4"
  [ -z "${!var:-}" ] || return 0
  if [ ! -s "$keyfile" ]; then
    (umask 077 && node -e "process.stdout.write($expr)" > "$keyfile")
    say "generated a local $what in $keyfile"
  fi
  export "$var=$(cat "$keyfile")"
}
HEX32='require("crypto").randomBytes(32).toString("hex")'
# A new audit key would make the existing ledger fail verification.
local_secret AUDIT_HMAC_KEY audit-hmac.key "audit HMAC key" "$HEX32"
# Ed25519 key signing ledger checkpoints; stable across restarts so the public key is too.
local_secret AUDIT_SIGNING_KEY audit-signing.key "audit signing key (Ed25519)" \
  'require("crypto").generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "der" }).toString("base64")'
# Wraps the data keys that encrypt Temporal payloads: losing it makes every history unreadable.
local_secret PAYLOAD_MASTER_KEY payload-master.key "payload master key" "$HEX32"

# --- helpers ------------------------------------------------------------------------
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2> /dev/null; }
is_local() { case "$1" in 127.0.0.1 | localhost | ::1 | '[::1]') return 0 ;; *) return 1 ;; esac; }

ensure_postgres() { # host port
  local host="$1" port="$2" v i
  pg_up() {
    if command -v pg_isready > /dev/null; then pg_isready -q -h "$host" -p "$port" -t 2; else tcp_open "$host" "$port"; fi
  }
  pg_up && return 0
  if is_local "$host" && command -v pg_ctlcluster > /dev/null && [ -d /etc/postgresql ]; then
    say "PostgreSQL is down at $host:$port; starting the local cluster"
    for v in /etc/postgresql/*/; do
      pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true
    done
    for i in $(seq 1 60); do pg_up && return 0; sleep 0.5; done
  fi
  die "PostgreSQL is not reachable at $host:$port (DATABASE_URL). Start it, or point DATABASE_URL at a running server."
}

# "Name=Type" for the six custom search attributes, from the one TypeScript definition.
mapfile -t SA_SPECS < <("$TSX" -e "import { customSearchAttributes } from './src/temporal/searchAttributes';
for (const a of customSearchAttributes) console.log(a.name + '=' + a.cliType);")
[ "${#SA_SPECS[@]}" -gt 0 ] || die "could not read the search attributes from src/temporal/searchAttributes.ts"

# Prints the Name=Type specs the server does not have yet; fails if the server does not answer.
missing_search_attributes() {
  "$TEMPORAL" operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" \
    --command-timeout 5s -o json 2> /dev/null |
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      let have;
      try { have = JSON.parse(s).customAttributes || {}; } catch { process.exit(1); } // no answer yet
      for (const spec of process.argv.slice(1)) if (!(spec.split("=")[0] in have)) console.log(spec);
    });' "${SA_SPECS[@]}"
}


# --- child processes -------------------------------------------------------------------
# Each child runs in its own process group (set -m), so stopping a group also stops the
# node process that tsx spawns, and Ctrl-C reaches only this script, which then shuts
# the children down in order: API and worker first, Temporal last.
NAMES=()
PIDS=()
STOPPING=0

spawn() { # name command...  (output prefixed with [name])
  local name="$1"
  shift
  set -m
  # The prefixer lives in the child's process group but ignores INT/TERM, so it keeps
  # relaying the child's shutdown logs until the child closes its output.
  "$@" > >(trap '' INT TERM && exec awk -v p="[$name] " '{ print p $0; fflush() }') 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
  set +m # job control only for the spawn: avoids bash's "Terminated" job notices
}

stop_groups() { # signal pid...
  local sig="$1" pid
  shift
  for pid in "$@"; do kill "-$sig" -- "-$pid" 2> /dev/null || true; done
}

wait_groups() { # seconds pid...  (SIGTERM already sent; SIGKILL after the grace period)
  local grace="$1" timer pid
  shift
  [ "$#" -gt 0 ] || return 0
  set -m # own process group, so killing the timer also kills its sleep
  (sleep "$grace" && stop_groups KILL "$@") &
  timer=$!
  set +m
  for pid in "$@"; do wait "$pid" 2> /dev/null || true; done
  # KILL, not TERM: stop_all ignores TERM, and the timer inherited that.
  kill -KILL -- "-$timer" 2> /dev/null || true
}

stop_all() {
  [ "$STOPPING" = 1 ] && return
  STOPPING=1
  # Best effort from here on: a failing command or a closed stdout (e.g. `npm start | tee`
  # whose tee died on the same Ctrl-C) must not abort the shutdown and orphan children.
  set +e
  trap '' PIPE
  # npm forwards the Ctrl-C it got to us as well; repeated signals must not cut the
  # graceful shutdown short (the grace timers below bound it anyway).
  trap '' INT TERM HUP
  local i apps=() temporal=()
  for i in "${!PIDS[@]}"; do
    case "${NAMES[$i]}" in temporal | pglite) temporal+=("${PIDS[$i]}") ;; *) apps+=("${PIDS[$i]}") ;; esac
  done
  if [ "${#PIDS[@]}" -gt 0 ]; then say "stopping ${NAMES[*]}"; fi
  # API and worker finish in-flight work (the worker hands activities back to Temporal).
  stop_groups TERM "${apps[@]}"
  wait_groups 30 "${apps[@]}"
  stop_groups TERM "${temporal[@]}"
  wait_groups 10 "${temporal[@]}"
}

on_signal() {
  trap '' PIPE
  echo || true
  stop_all
  say "stopped"
  exit 0
}
trap on_signal INT TERM HUP
trap 'stop_all' EXIT

# Exits non-zero (after stopping the rest) if any child has died.
check_children() {
  local i rc
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2> /dev/null; then
      rc=0
      wait "${PIDS[$i]}" 2> /dev/null || rc=$?
      say "${NAMES[$i]} exited (status $rc); stopping the rest"
      [ "${NAMES[$i]}" = temporal ] && tail -n 30 "$DATA_DIR/temporal.log" >&2
      stop_all
      exit 1
    fi
  done
}

# --- PostgreSQL (or the embedded PGlite) + migrations ---------------------------------
if [ "$EMBEDDED_DB" = 1 ]; then
  ! tcp_open 127.0.0.1 "$PGLITE_PORT" || die "port $PGLITE_PORT (embedded database) is in use; set PGLITE_PORT, or DATABASE_URL for a PostgreSQL server"
  say "no DATABASE_URL: starting the embedded database (PGlite, $DATA_DIR/pglite) on 127.0.0.1:$PGLITE_PORT"
  export PGLITE_PORT PGLITE_DIR="$DATA_DIR/pglite"
  spawn pglite "$TSX" src/cli/pglite.ts
  for i in $(seq 1 240); do
    check_children
    tcp_open 127.0.0.1 "$PGLITE_PORT" && break
    [ "$i" -lt 240 ] || die "the embedded database did not listen on port $PGLITE_PORT within 120 s"
    sleep 0.5
  done
else
  read -r PG_HOST PG_PORT < <(node -e 'const u = new URL(process.argv[1]); console.log(u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1", u.port || 5432)' "$DATABASE_URL") ||
    die "DATABASE_URL is not a URL: $DATABASE_URL"
  ensure_postgres "$PG_HOST" "$PG_PORT"
fi
say "migrating the database"
"$TSX" src/cli/migrate.ts

# --- Temporal ----------------------------------------------------------------------------
T_HOST="${TEMPORAL_ADDRESS%:*}"
T_PORT="${TEMPORAL_ADDRESS##*:}"
T_HOST="${T_HOST#[}"
T_HOST="${T_HOST%]}"
STARTED_TEMPORAL=0

if tcp_open "$T_HOST" "$T_PORT"; then
  say "a Temporal server already listens at $TEMPORAL_ADDRESS; using it"
  missing="$(missing_search_attributes)" || die "something listens at $TEMPORAL_ADDRESS but does not answer as a Temporal server (namespace $TEMPORAL_NAMESPACE)"
  for spec in $missing; do
    say "registering search attribute $spec"
    out="$("$TEMPORAL" operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" \
      --name "${spec%%=*}" --type "${spec#*=}" 2>&1)" || grep -qi 'already' <<< "$out" ||
      die "could not register search attribute $spec: $out"
  done
else
  is_local "$T_HOST" || die "no Temporal server answers at $TEMPORAL_ADDRESS (only a local address gets a dev server started)"
  ! tcp_open 127.0.0.1 "$TEMPORAL_UI_PORT" || die "port $TEMPORAL_UI_PORT (Temporal Web UI) is in use; set TEMPORAL_UI_PORT"
  sa_flags=()
  for spec in "${SA_SPECS[@]}"; do sa_flags+=(--search-attribute "$spec"); done
  say "starting the Temporal dev server at $TEMPORAL_ADDRESS (log: $DATA_DIR/temporal.log, state: $DATA_DIR/temporal.sqlite)"
  set -m
  # The Web UI decodes payloads through the API's codec server, which needs an operator's
  # Bearer token on each call (docs/operations.md, "Temporal payloads").
  "$TEMPORAL" server start-dev --ip 127.0.0.1 --port "$T_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --ui-codec-endpoint "$PUBLIC_BASE_URL/codec" \
    --db-filename "$DATA_DIR/temporal.sqlite" --namespace "$TEMPORAL_NAMESPACE" "${sa_flags[@]}" \
    >> "$DATA_DIR/temporal.log" 2>&1 &
  PIDS+=("$!")
  NAMES+=(temporal)
  set +m
  STARTED_TEMPORAL=1
fi

# Ready = frontend answers and all six search attributes are visible (registration can lag).
for i in $(seq 1 180); do
  check_children
  if missing="$(missing_search_attributes)" && [ -z "$missing" ]; then break; fi
  [ "$i" -lt 180 ] || die "Temporal at $TEMPORAL_ADDRESS was not ready within 90 s (see $DATA_DIR/temporal.log)"
  sleep 0.5
done
say "Temporal is ready; search attributes: ${SA_SPECS[*]}"
# The reconciler's Schedule, created or updated idempotently (the same command as for clusters).
"$TSX" src/cli/setupTemporal.ts > /dev/null || die "could not create the reconciler schedule (npm run temporal:setup)"
say "reconciler schedule ready (every $RECONCILE_INTERVAL)"

# --- worker + API ----------------------------------------------------------------------------
! tcp_open 127.0.0.1 "$PORT" || die "port $PORT is already in use; set PORT to another port"
# glibc gives each thread that allocates its own malloc arena (SDK Core runs many): two arenas
# hold the worker about 50 MB lower with the same work (docs/performance.md, "Worker memory").
spawn worker env MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" "$TSX" worker.ts
spawn api "$TSX" src/server.ts

for i in $(seq 1 120); do
  check_children
  tcp_open 127.0.0.1 "$PORT" && break
  [ "$i" -lt 120 ] || die "the API did not listen on port $PORT within 60 s"
  sleep 0.5
done

ui_line="http://127.0.0.1:$TEMPORAL_UI_PORT"
[ "$STARTED_TEMPORAL" = 1 ] || ui_line="(the existing Temporal server's own Web UI)"
cat << EOF

==========================================================================
  KYC journeys is up.
  API:              http://127.0.0.1:$PORT   (health: /healthz)
  Metrics:          http://127.0.0.1:$METRICS_PORT/metrics
  Temporal Web UI:  $ui_line
  Temporal:         $TEMPORAL_ADDRESS, namespace $TEMPORAL_NAMESPACE
  Database:         ${DATABASE_URL%%\?*}$([ "$EMBEDDED_DB" = 1 ] && echo "  (embedded PGlite in $DATA_DIR/pglite; set DATABASE_URL for PostgreSQL)")
  WEBHOOK_ALLOW_PRIVATE_NETWORKS=$WEBHOOK_ALLOW_PRIVATE_NETWORKS (local default: webhooks may go to 127.0.0.1)
  Next: create an organization and follow the curl walk-through in README.md
        npm run --silent admin -- create-org --name Acme --admin-email you@example.com
  Ctrl-C stops everything this script started.
==========================================================================

EOF

while :; do
  check_children
  sleep 1
done
