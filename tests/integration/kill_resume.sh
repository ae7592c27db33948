# A run killed with SIGKILL mid-training is found by the next invocation, marked interrupted,
# resumed from its checkpoint, and ends with the same weights as an uninterrupted run.
source "$(dirname "$0")/lib.sh"

cat > run.lua <<'LUA'
-- 4 iterations per epoch; the queue (4 batches) starts at epoch 1 and is full from epoch 2 on,
-- so the checkpoint must carry it.
bench.pretrain{ method = "swav", subset = 512, batch_size = 128, epochs = 4, seed = 3,
                freeze_prototypes_iters = 4, queue_length = 512, queue_start_epoch = 1,
                knn_every = 2, label = "resumable" }
LUA

# Reference: the same config uninterrupted, in another database.
"$SWAVBENCH" run run.lua --db "$WORK/ref/r.sqlite" > ref.log 2>&1 || { cat ref.log; fail "reference run failed"; }
ref_digest=$(sqlite3 "$WORK/ref/r.sqlite" "select sha256 from artifacts where kind='weights'")
[ -n "$ref_digest" ] || fail "no weights digest recorded"

"$SWAVBENCH" run run.lua --db "$DB" > killed.log 2>&1 &
pid=$!
# Wait for the first epoch row, then kill -9 in the middle of the next epoch.
wait_for_epoch_row "$DB" killed.log
sleep 1
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[ "$(sql "select status from runs")" = "running" ] || fail "a killed process cannot mark itself"

expect_exit 0 "$SWAVBENCH" run run.lua --db "$DB" --dry-run
expect_in "$OUT" "marked interrupted"
expect_in "$OUT" "resume run #1 (interrupted)"
[ "$(sql "select status from runs")" = "interrupted" ] || fail "run not marked interrupted"

"$SWAVBENCH" run run.lua --db "$DB" > resumed.log 2>&1 || { cat resumed.log; fail "resume failed"; }
cat resumed.log
expect_in "$(cat resumed.log)" "resuming run #1"
[ "$(sql "select status from runs")" = "done" ] || fail "resumed run not done"
[ "$(sql "select count(*) from epochs")" = 4 ] || fail "expected 4 epoch rows after resume"
digest=$(sql "select sha256 from artifacts where kind='weights'")
[ "$digest" = "$ref_digest" ] || fail "resumed weights $digest differ from uninterrupted $ref_digest"
# The queue was in use in the last epoch.
expect_in "$(sql "select extra_json from epochs where epoch = 3")" '"queue_in_use":1.0'
echo "kill_resume: ok (weights $digest)"
