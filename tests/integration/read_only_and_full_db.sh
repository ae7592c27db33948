# The results database in a read-only folder and on a full disk.
#
# Read-only: the commands that only read (db runs, db show, tables, claims, export) work; a
# writing command is exit 2 saying that the folder is read-only, and nothing is written.
# Full disk: the command stops with exit 1 saying that the disk is full (SQLite only says "disk
# I/O error"), and the database keeps every row recorded before, intact.
#
# Both folders are mounts in a private mount namespace (`unshare -rm`, as full_disk.sh): a
# read-only bind mount, and a small tmpfs.
if [ -z "${SWAVBENCH_IN_MOUNT_NS:-}" ]; then
  SWAVBENCH_IN_MOUNT_NS=1 exec unshare -rm bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
trap 'umount "$WORK/ro" "$WORK/full" 2>/dev/null; rm -rf "$WORK"' EXIT

printf 'bench.pretrain{ method = "random", label = "control" }\n' > one.lua
printf 'bench.pretrain{ method = "random", label = "second", seed = 2 }\n' > two.lua

# --- Read-only folder
mkdir ro
"$SWAVBENCH" run one.lua --db "$WORK/ro/r.sqlite" > one.log 2>&1 || { cat one.log; fail "first run failed"; }
mount --bind "$WORK/ro" "$WORK/ro" && mount -o remount,bind,ro "$WORK/ro" || fail "cannot make a read-only bind mount"
touch "$WORK/ro/probe" 2>/dev/null && fail "the folder is not read-only"
sum_before=$(sha256sum "$WORK/ro/r.sqlite" | cut -d' ' -f1)
expect_exit 0 "$SWAVBENCH" db --db "$WORK/ro/r.sqlite" runs
expect_in "$OUT" "control"
expect_exit 0 "$SWAVBENCH" db --db "$WORK/ro/r.sqlite" show 1
expect_in "$OUT" "run #1"
expect_exit 0 "$SWAVBENCH" tables --db "$WORK/ro/r.sqlite"
expect_in "$OUT" "control"
expect_exit 2 "$SWAVBENCH" run two.lua --db "$WORK/ro/r.sqlite"
expect_in "$OUT" "cannot write results database $WORK/ro/r.sqlite: its folder is read-only"
expect_exit 2 "$SWAVBENCH" run two.lua --db "$WORK/ro/new.sqlite"
expect_in "$OUT" "its folder is read-only"
[ "$(sha256sum "$WORK/ro/r.sqlite" | cut -d' ' -f1)" = "$sum_before" ] || fail "the read-only database changed"

# --- Full disk under the database
mkdir full
mount -t tmpfs -o size=8m tmpfs "$WORK/full" || fail "cannot mount a tmpfs in a user namespace"
"$SWAVBENCH" run one.lua --db "$WORK/full/r.sqlite" > full1.log 2>&1 || { cat full1.log; fail "first run failed"; }
rows_before=$(sqlite3 "$WORK/full/r.sqlite" "select id, hash, status, label from runs")
dd if=/dev/zero of="$WORK/full/filler" bs=4k 2>/dev/null || true  # until the disk is full
expect_exit 1 "$SWAVBENCH" run two.lua --db "$WORK/full/r.sqlite"
echo "$OUT" | tail -2
expect_in "$OUT" "the disk is full (No space left on device); nothing recorded before was lost"
rm -f "$WORK/full/filler"
[ "$(sqlite3 "$WORK/full/r.sqlite" "pragma integrity_check")" = "ok" ] || fail "integrity check failed"
[ "$(sqlite3 "$WORK/full/r.sqlite" "select id, hash, status, label from runs where id = 1")" = "$rows_before" ] || fail "the first run's row changed"
# With room again the same script runs.
expect_exit 0 "$SWAVBENCH" run two.lua --db "$WORK/full/r.sqlite"
[ "$(sqlite3 "$WORK/full/r.sqlite" "select label from runs where status = 'done' order by id" | tr '\n' ' ')" = "control second " ] || fail "runs after the disk had room: $(sqlite3 "$WORK/full/r.sqlite" "select label, status from runs")"
echo "read_only_and_full_db: ok"
