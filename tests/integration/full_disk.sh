# A disk that fills up while a checkpoint is written: exit 1 naming the checkpoint and the full
# disk, the run marked failed, the previous epoch's checkpoint and every recorded row intact, and
# once there is room again the run resumes and ends with the weights of an uninterrupted run.
#
# The runs folder is a small tmpfs mounted in a private mount namespace (`unshare -rm`: no real
# mount is touched, and no privilege is needed where user namespaces are enabled), sized to hold
# one checkpoint but not a second one next to it.
if [ -z "${SWAVBENCH_IN_MOUNT_NS:-}" ]; then
  SWAVBENCH_IN_MOUNT_NS=1 exec unshare -rm bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
trap 'umount "$WORK/runs" 2>/dev/null; rm -rf "$WORK"' EXIT

cat > run.lua <<'LUA'
bench.pretrain{ method = "swav", arch = "resnet10", width = 0.25, small_stem = true,
                subset = 256, batch_size = 128, epochs = 3, seed = 5, knn_every = 0,
                freeze_prototypes_iters = 2, label = "fills the disk" }
LUA

# Reference: uninterrupted, on the ordinary disk.
"$SWAVBENCH" run run.lua --db "$WORK/ref/r.sqlite" > ref.log 2>&1 || { cat ref.log; fail "reference run failed"; }
ref_digest=$(sqlite3 "$WORK/ref/r.sqlite" "select sha256 from artifacts where kind='weights'")
checkpoint_bytes=$(stat -c %s "$WORK"/ref/runs/r.sqlite/*/checkpoint.pt)
echo "checkpoint: $checkpoint_bytes bytes"

# Room for one checkpoint and half of the next (tmpfs rounds up to pages).
mkdir -p "$WORK/runs"
mount -t tmpfs -o size=$((checkpoint_bytes * 3 / 2)) tmpfs "$WORK/runs" || fail "cannot mount a tmpfs in a user namespace"
expect_exit 1 "$SWAVBENCH" run run.lua --db "$DB"
echo "$OUT" | tail -3
expect_in "$OUT" "checkpoint.pt: cannot write (No space left on device: the disk is full)"
[ "$(sql "select status from runs")" = "failed" ] || fail "run not marked failed: $(sql "select status from runs")"
expect_in "$(sql "select reason from runs")" "the disk is full"
[ "$(sql "select count(*) from epochs")" = 1 ] || fail "expected the first epoch's row only, got $(sql "select count(*) from epochs")"
ls "$WORK"/runs/*/*/
[ -z "$(ls "$WORK"/runs/*/*/*.tmp 2>/dev/null)" ] || fail "a temporary checkpoint was left behind"

# Room again: the run resumes from the first epoch's checkpoint and matches the reference.
mount -o remount,size=64m "$WORK/runs"
"$SWAVBENCH" run run.lua --db "$DB" > resumed.log 2>&1 || { cat resumed.log; fail "resume failed"; }
expect_in "$(cat resumed.log)" "resuming run #1"
[ "$(sql "select status from runs")" = "done" ] || fail "resumed run not done"
[ "$(sql "select count(*) from epochs")" = 3 ] || fail "expected 3 epoch rows, got $(sql "select count(*) from epochs")"
digest=$(sql "select sha256 from artifacts where kind='weights'")
[ "$digest" = "$ref_digest" ] || fail "resumed weights $digest differ from uninterrupted $ref_digest"
echo "full_disk: ok"
