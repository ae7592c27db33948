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

# expect_exit CODE CMD...: runs CMD, captures output in $OUT, checks the exit code. A command
# that runs past EXPECT_TIMEOUT seconds (default 600) is stopped and fails the test (exit 124):
# bad input must never hang.
expect_exit() {
  local want="$1"
  shift
  set +e
  OUT="$(timeout --kill-after=10 "${EXPECT_TIMEOUT:-600}" "$@" 2>&1)"
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

# wait_for_epoch_row DB LOG: waits (up to 2 min) until a training process has written its first
# epoch row to DB; on time-out prints LOG (the process's output) and fails.
wait_for_epoch_row() {
  local n=0
  for _ in $(seq 1 600); do
    n=$(sqlite3 "$1" "select count(*) from epochs" 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 1 ] && return 0
    sleep 0.2
  done
  cat "$2"
  fail "no epoch finished"
}
