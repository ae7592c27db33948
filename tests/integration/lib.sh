# Shared helpers for the integration tests: each test gets a fresh temp dir with its own
# database and drives the real swavbench binary. Usage in a test: source "$(dirname "$0")/lib.sh"
set -euo pipefail
SWAVBENCH="$1"
SOURCE_DIR="$2"
WORK="$(mktemp -d /tmp/swavbench_it.XXXXXX)"
DB="$WORK/r.sqlite"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# sql QUERY: one value from the test database.
sql() { sqlite3 "$DB" "$1"; }

# expect_exit CODE CMD...: runs CMD, captures output in $OUT, checks the exit code.
expect_exit() {
  local want="$1"
  shift
  set +e
  OUT="$("$@" 2>&1)"
  local got=$?
  set -e
  if [ "$got" != "$want" ]; then
    echo "$OUT" >&2
    fail "expected exit $want, got $got from: $*"
  fi
}

# expect_in TEXT NEEDLE: NEEDLE must occur in TEXT.
expect_in() {
  case "$1" in
    *"$2"*) ;;
    *) echo "$1" >&2; fail "expected to find: $2" ;;
  esac
}
