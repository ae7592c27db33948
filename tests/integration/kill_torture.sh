# Kill and resume: a small sweep (SwAV with its feature queue, MoCo v2 with its negatives queue,
# 3 epochs each, a kNN evaluation each) is killed with SIGKILL again and again at fault points
# (SWAVBENCH_FAULT, harness/core/fault.h), each kind in turn at a pass drawn from a seeded
# sequence: after an optimiser step, inside a checkpoint write (its temporary file written, not
# yet renamed), between a checkpoint and its epoch row, after an epoch row. A killed process
# cannot mark its run: the next invocation finds it (its lock is gone), marks it interrupted and
# resumes it from its checkpoint. After every kill the database passes `pragma integrity_check`
# and holds no duplicated row; at the end every epoch row is there, and the losses, evaluation
# values and weights digests are bit-identical to an uninterrupted sweep's.
source "$(dirname "$0")/lib.sh"

cat > sweep.lua <<'LUA'
-- 2 iterations per epoch; SwAV's queue (2 batches) starts at epoch 1 and is in use from epoch 2
-- on, so the checkpoint must carry it.
for _, method in ipairs({ "swav", "moco" }) do
  local run = bench.pretrain{ method = method, subset = 256, batch_size = 128, epochs = 3,
                              seed = 4, knn_every = 0, freeze_prototypes_iters = 2,
                              queue_length = 256, queue_start_epoch = 1, label = method }
  bench.eval(run, { knn = { k = { 20 }, train_subset = 500, test_subset = 200 } })
end
LUA

weights() { sqlite3 "$1" "select r.label, a.sha256 from artifacts a join runs r on r.id = a.run_id where a.kind = 'weights' order by r.label"; }
losses() { sqlite3 "$1" "select r.label, e.epoch, printf('%.17g', e.loss), e.extra_json from epochs e join runs r on r.id = e.run_id order by r.label, e.epoch"; }
evals() { sqlite3 "$1" "select r.label, v.protocol, v.metric, printf('%.17g', v.value) from evals v join runs r on r.id = v.run_id order by r.label, v.protocol, v.metric"; }

"$SWAVBENCH" run sweep.lua --db "$WORK/ref.sqlite" > ref.log 2>&1 || { cat ref.log; fail "reference sweep failed"; }
ref_losses=$(losses "$WORK/ref.sqlite" | cut -d'|' -f1-3)
ref_evals=$(evals "$WORK/ref.sqlite")
ref_weights=$(weights "$WORK/ref.sqlite")
expect_in "$(sqlite3 "$WORK/ref.sqlite" "select extra_json from epochs where run_id = 1 and epoch = 2")" '"queue_in_use":1.0'
[ "$(echo "$ref_losses" | wc -l)" = 6 ] || fail "reference: expected 6 epoch rows"

points=(after-step atomic-write-before-rename between-checkpoint-and-epoch-row after-epoch-row)
RANDOM=20261128  # the same sequence of kills on every run of this test
kills=0
killed_at=""
finished=0
for round in $(seq 1 24); do
  point=${points[$((round % ${#points[@]}))]}  # every kind of point in turn
  pass=$((RANDOM % 2 + 1))
  set +e
  # In a subshell, so that bash does not report each kill on stderr.
  (SWAVBENCH_FAULT="$point@$pass" "$SWAVBENCH" run sweep.lua --db "$DB" > round.log 2>&1) 2>/dev/null
  rc=$?
  set -e
  cat round.log >> rounds.log
  if [ "$rc" = 137 ]; then
    kills=$((kills + 1))
    killed_at+=" $point"
    echo "round $round: killed at $point@$pass ($(grep -c . < <(sql "select 1 from epochs")) epoch rows so far)"
    if [ "$kills" = 1 ]; then
      [ "$(sql "select status from runs where id = 1")" = "running" ] || fail "a killed process cannot mark its run"
      expect_exit 0 "$SWAVBENCH" run sweep.lua --db "$DB" --dry-run
      expect_in "$OUT" "marked interrupted"
      [ "$(sql "select status from runs where id = 1")" = "interrupted" ] || fail "the killed run was not marked interrupted"
    fi
  elif [ "$rc" = 0 ]; then
    echo "round $round: $point@$pass not reached, the sweep finished"
    finished=1
  else
    cat round.log
    fail "round $round ($point@$pass): exit $rc, neither killed nor finished"
  fi
  [ "$(sql "pragma integrity_check")" = "ok" ] || fail "integrity check failed after round $round"
  [ "$(sql "select count(*) from (select run_id, epoch from epochs group by run_id, epoch having count(*) > 1)")" = 0 ] ||
    fail "duplicated epoch rows after round $round"
  [ "$(sql "select count(*) from (select run_id, protocol, metric from evals group by run_id, protocol, metric having count(*) > 1)")" = 0 ] ||
    fail "duplicated eval rows after round $round"
  [ "$finished" = 1 ] && break
done
expect_in "$(cat rounds.log)" "resuming run #1"
for point in "${points[@]}"; do
  expect_in "$killed_at" "$point"  # every kind of point was reached at least once
done
"$SWAVBENCH" run sweep.lua --db "$DB" > final.log 2>&1 || { cat final.log; fail "the last, uninterrupted invocation failed"; }
[ "$(sql "select count(*) from runs where status = 'done'")" = 2 ] || fail "runs not done: $(sql "select label, status from runs")"
[ "$(losses "$DB" | cut -d'|' -f1-3)" = "$ref_losses" ] || { losses "$DB"; echo "$ref_losses"; fail "epoch rows differ from the uninterrupted sweep"; }
[ "$(evals "$DB")" = "$ref_evals" ] || { evals "$DB"; echo "$ref_evals"; fail "evaluation values differ from the uninterrupted sweep"; }
[ "$(weights "$DB")" = "$ref_weights" ] || { weights "$DB"; echo "$ref_weights"; fail "weights differ from the uninterrupted sweep"; }
echo "kill_torture: ok ($kills kills; 6 epoch rows, $(echo "$ref_evals" | wc -l) eval values and 2 weights digests bit-identical to the uninterrupted sweep)"
