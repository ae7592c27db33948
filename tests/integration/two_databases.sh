# Several databases in one folder lose nothing: each has its own runs folder
# (runs/<db file name>/<hash>/, harness/core/run_dir.h), so training a config into one database
# never rewrites a run another database recorded. Checked as a user meets it: the same config
# trained into a second database (and retrained there with --force) after the first finished,
# two processes training it into two databases side by side, a run killed mid-training and
# resumed after another database trained the same config, a second process refused with the
# real holder while the first trains into the same database, and `db merge` of the databases.
# After each step `export` of every finished run matches the weights digest its database
# recorded.
source "$(dirname "$0")/lib.sh"

cat > s.lua <<'LUA'
bench.pretrain{ method = "swav", subset = 256, batch_size = 128, epochs = 2, seed = 3,
                knn_every = 0, freeze_prototypes_iters = 2, label = "shared config" }
LUA
# The same config, long enough (24 iterations) for a second process to meet the first.
cat > long.lua <<'LUA'
bench.pretrain{ method = "swav", subset = 1024, batch_size = 128, epochs = 3, seed = 3,
                knn_every = 0, freeze_prototypes_iters = 2, label = "long" }
LUA

# export_matches DB: every finished run of DB exports, and its weights match the recorded digest.
export_matches() {
  local db="$1" id
  for id in $(sqlite3 "$db" "select id from runs where status = 'done'"); do
    expect_exit 0 "$SWAVBENCH" export "$id" --db "$db" --out "$WORK/export_$id.pt"
    local recorded exported
    # distinct: a merged run keeps each input's (equal) weights row
    recorded=$(sqlite3 "$db" "select distinct sha256 from artifacts where run_id = $id and kind = 'weights'")
    exported=$(python3 -c "import json; print(json.load(open('$WORK/export_$id.json'))['weights_sha256'])")
    [ "$recorded" = "$exported" ] || fail "$db run #$id: exported weights $exported, recorded $recorded"
  done
}
digest() { sqlite3 "$1" "select sha256 from artifacts where kind = 'weights' order by run_id"; }

# 1. One database after the other, then --force in the second.
expect_exit 0 "$SWAVBENCH" run s.lua --db "$WORK/a.sqlite"
hash=$(sqlite3 "$WORK/a.sqlite" "select hash from runs")
expect_exit 0 "$SWAVBENCH" run s.lua --db "$WORK/b.sqlite"
expect_in "$OUT" "training run #1"
expect_exit 0 "$SWAVBENCH" run s.lua --db "$WORK/b.sqlite" --force
[ -f "$WORK/runs/a.sqlite/$hash/checkpoint.pt" ] || fail "a.sqlite's checkpoint is not in runs/a.sqlite/"
[ -f "$WORK/runs/b.sqlite/$hash/checkpoint.pt" ] || fail "b.sqlite's checkpoint is not in runs/b.sqlite/"
expect_in "$(sqlite3 "$WORK/a.sqlite" "select path from artifacts where kind = 'checkpoint'")" "runs/a.sqlite/$hash/checkpoint.pt"
export_matches "$WORK/a.sqlite"
export_matches "$WORK/b.sqlite"

# Weights that are not the ones a database recorded are refused by export and by bench.eval
# alike, naming the file and both digests (here the recorded digest is changed instead).
cp "$WORK/b.sqlite" "$WORK/tampered.sqlite"
mkdir -p "$WORK/runs/tampered.sqlite" && cp -r "$WORK/runs/b.sqlite/$hash" "$WORK/runs/tampered.sqlite/"
sqlite3 "$WORK/tampered.sqlite" "update artifacts set sha256 = '00c0ffee' where kind = 'weights'"
expect_exit 2 "$SWAVBENCH" export 1 --db "$WORK/tampered.sqlite" --out "$WORK/t.pt"
expect_in "$OUT" "export: $WORK/runs/tampered.sqlite/$hash/checkpoint.pt holds weights with digest"
expect_in "$OUT" "recorded 00c0ffee when it finished: the checkpoint was replaced or damaged"
cat > eval.lua <<'LUA'
local run = bench.pretrain{ method = "swav", subset = 256, batch_size = 128, epochs = 2, seed = 3,
                            knn_every = 0, freeze_prototypes_iters = 2, label = "shared config" }
bench.eval(run, { knn = { k = { 20 }, train_subset = 500, test_subset = 200 } })
LUA
expect_exit 2 "$SWAVBENCH" run eval.lua --db "$WORK/tampered.sqlite"
expect_in "$OUT" "eval.lua:3: $WORK/runs/tampered.sqlite/$hash/checkpoint.pt holds weights with digest"
[ "$(sqlite3 "$WORK/tampered.sqlite" "select count(*) from evals")" = 0 ] || fail "weights that are not the run's were evaluated"
expect_exit 0 "$SWAVBENCH" run eval.lua --db "$WORK/b.sqlite"  # the intact one evaluates

# 2. Two processes, the same config, two databases, side by side: both finish, both intact.
"$SWAVBENCH" run long.lua --db "$WORK/c.sqlite" > c.log 2>&1 &
c_pid=$!
"$SWAVBENCH" run long.lua --db "$WORK/d.sqlite" > d.log 2>&1 &
d_pid=$!
wait "$c_pid" || { cat c.log; fail "c.sqlite's run failed beside d.sqlite's"; }
wait "$d_pid" || { cat d.log; fail "d.sqlite's run failed beside c.sqlite's"; }
export_matches "$WORK/c.sqlite"
export_matches "$WORK/d.sqlite"
# Training is deterministic: side by side or not, the same weights.
[ "$(digest "$WORK/c.sqlite")" = "$(digest "$WORK/d.sqlite")" ] || fail "side-by-side runs learned different weights"

# 3. The same database, a second process while the first trains: refused with the holder's pid,
# host and database, and the remedy; the first finishes untouched.
"$SWAVBENCH" run long.lua --db "$WORK/e.sqlite" > e.log 2>&1 &
e_pid=$!
wait_for_epoch_row "$WORK/e.sqlite" e.log
expect_exit 2 "$SWAVBENCH" run long.lua --db "$WORK/e.sqlite"
expect_in "$OUT" "is being trained by another process (pid $e_pid on $(hostname), training into $WORK/e.sqlite since "
expect_in "$OUT" "into this same database; wait for it to finish"
wait "$e_pid" || { cat e.log; fail "the first trainer of e.sqlite failed"; }
export_matches "$WORK/e.sqlite"

# 4. Killed mid-training in f.sqlite; the same config trained to the end in g.sqlite meanwhile;
# f.sqlite's run then resumes from its own checkpoint and both end with their own weights,
# which equal the uninterrupted run's.
set +e
(SWAVBENCH_FAULT="after-epoch-row@1" "$SWAVBENCH" run long.lua --db "$WORK/f.sqlite" > f.log 2>&1) 2>/dev/null
rc=$?
set -e
[ "$rc" = 137 ] || { cat f.log; fail "the fault point did not kill the run (exit $rc)"; }
expect_exit 0 "$SWAVBENCH" run long.lua --db "$WORK/g.sqlite"
expect_exit 0 "$SWAVBENCH" run long.lua --db "$WORK/f.sqlite"
expect_in "$OUT" "marked interrupted"
expect_in "$OUT" "3 epochs, from epoch 2"  # the killed run's first epoch is kept
export_matches "$WORK/f.sqlite"
export_matches "$WORK/g.sqlite"
[ "$(digest "$WORK/f.sqlite")" = "$(digest "$WORK/c.sqlite")" ] || fail "the resumed run's weights differ from the uninterrupted run's"

# 5. db merge of databases whose runs share hashes: finished in both with equal weights, so the
# merge keeps OUT's rows, and every merged run still exports with its recorded digest.
expect_exit 0 "$SWAVBENCH" db merge "$WORK/all.sqlite" "$WORK/c.sqlite" "$WORK/d.sqlite" "$WORK/f.sqlite" "$WORK/a.sqlite"
[ "$(sqlite3 "$WORK/all.sqlite" "select count(*) from runs")" = 2 ] || fail "merge: expected 2 runs (two configs)"
# A run finished in several inputs gains each input's checkpoint row: every one still exists.
for path in $(sqlite3 "$WORK/all.sqlite" "select path from artifacts where kind = 'checkpoint'"); do
  [ -f "$path" ] || fail "merged: the checkpoint $path does not exist"
done
[ "$(sqlite3 "$WORK/all.sqlite" "select count(*) from artifacts where kind = 'checkpoint'")" = 4 ] ||
  fail "merged: expected the checkpoints of c, d, f (one config) and a (the other)"
export_matches "$WORK/all.sqlite"  # read from the shards' runs folders the merge recorded
echo "two_databases: ok"
