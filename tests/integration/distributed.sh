# `swavbench run --nproc 2`: two ranks over loopback Gloo train what one process trains (epoch
# losses equal, same evaluation), only rank 0 writes the database, and killing rank 1 mid-run
# ends rank 0 with the error, a failed run row naming the rank, and the epochs recorded before
# kept; the next invocation resumes the run from its checkpoint and finishes it.
source "$(dirname "$0")/lib.sh"

cat > run.lua <<'LUA'
local run = bench.pretrain{ method = "swav", subset = 512, batch_size = 64, epochs = 2,
                            seed = 5, freeze_prototypes_iters = 2, queue_length = 128,
                            queue_start_epoch = 1, knn_every = 0, label = "dist",
                            optimizer = "lars", base_lr = 0.6, warmup_epochs = 1 }
bench.eval(run, { knn = { k = { 20 }, train_subset = 1000, test_subset = 500 } })
LUA

# One process, then two, on the same global batch of 64; one thread per process, since the
# thread count alone moves a CPU run's float32 sums (measured: 1 vs 2 threads, 1.3e-4 in the
# first epoch's mean loss of the default recipe, SGD at lr 0.3 without warm-up, where such
# differences grow from step to step; the warm-up here keeps them at rounding level). The
# step-by-step 1e-5 agreement is test_dist's DistTwoRanks.SwavTrainingFollowsSingleProcessStepByStep.
expect_exit 0 "$SWAVBENCH" run run.lua --threads 1 --db "$WORK/one/r.sqlite"
expect_exit 0 "$SWAVBENCH" run run.lua --nproc 2 --db "$DB"
expect_in "$OUT" "launching 2 ranks"
[ "$(sql "select count(*) from runs")" = 1 ] || fail "rank 1 must not write runs"
[ "$(sql "select world_size || ' ' || per_device_batch || ' ' || status from runs")" = "2 32 done" ] ||
  fail "run row: $(sql "select world_size, per_device_batch, status from runs")"
one_hash=$(sqlite3 "$WORK/one/r.sqlite" "select hash from runs")
[ "$(sql "select hash from runs")" = "$one_hash" ] || fail "with SyncBatchNorm the hash must not depend on the world size"
# Epoch 0 agrees to rounding; in epoch 1 float32 differences of an ulp have grown through 8 more
# steps at the peak learning rate (test_dist measures the growth step by step), hence 1e-3.
for epoch in 0 1; do
  a=$(sqlite3 "$WORK/one/r.sqlite" "select loss from epochs where epoch = $epoch")
  b=$(sql "select loss from epochs where epoch = $epoch")
  tolerance=$([ "$epoch" = 0 ] && echo 1e-5 || echo 1e-3)
  python3 -c "import sys; a, b = $a, $b; sys.exit(0 if abs(a - b) <= $tolerance else 1)" ||
    fail "epoch $epoch loss: 1 process $a, 2 processes $b"
  echo "epoch $epoch loss: 1 process $a, 2 processes $b"
done
# The kNN top-1 after the 2 epochs is a measurement, printed: float32 differences of an ulp
# that grew over 16 steps move a few of the 500 test images across a decision boundary (seen:
# 64.6 vs 65.4, 4 images). The pass condition (3 points) only rules out a grossly different
# evaluation; the exact checks are epoch 0's loss above and test_dist's first-step and float64
# comparisons.
a=$(sqlite3 "$WORK/one/r.sqlite" "select value from evals where metric = 'top1_k20'")
b=$(sql "select value from evals where metric = 'top1_k20'")
echo "kNN top-1 (k = 20) after 2 epochs: 1 process $a, 2 processes $b"
python3 -c "import sys; sys.exit(0 if abs($a - $b) <= 3.0 else 1)" || fail "kNN: 1 process $a, 2 processes $b"
[ -f "$WORK/runs/r.sqlite/$one_hash/method_rank1.pt" ] || fail "rank 1's queue file is missing"

# Another database in the same folder has its own runs folder: its run of the same config starts
# fresh with one process, and the 2-process run's files stay as they were.
rank1_before=$(sha256sum < "$WORK/runs/r.sqlite/$one_hash/method_rank1.pt")
expect_exit 0 "$SWAVBENCH" run run.lua --threads 1 --db "$WORK/other.sqlite"
expect_in "$OUT" "training run #1"
[ ! -f "$WORK/runs/other.sqlite/$one_hash/method_rank1.pt" ] || fail "a one-process run wrote a rank file"
[ "$(sha256sum < "$WORK/runs/r.sqlite/$one_hash/method_rank1.pt")" = "$rank1_before" ] ||
  fail "another database's run rewrote the 2-process run's rank file"

# Bad input: a global batch the ranks cannot split, and --nproc inside a launcher's environment.
expect_exit 2 "$SWAVBENCH" run run.lua --nproc 2 --set batch_size=63 --db "$WORK/bad/r.sqlite"
expect_in "$OUT" "batch_size 63 is not divisible by the number of processes 2"
expect_exit 2 env RANK=0 WORLD_SIZE=2 "$SWAVBENCH" run run.lua --nproc 2 --db "$WORK/bad/r.sqlite"
expect_in "$OUT" "use either --nproc or the launcher"

# Kill rank 1 in the second epoch of a longer run.
DB2="$WORK/killed/r.sqlite"
"$SWAVBENCH" run run.lua --nproc 2 --set epochs=6 --db "$DB2" > killed.log 2>&1 &
launcher=$!
wait_for_epoch_row "$DB2" killed.log
rank1=""
for child in $(pgrep -P "$launcher"); do
  tr '\0' '\n' < "/proc/$child/environ" | grep -qx "RANK=1" && rank1=$child
done
[ -n "$rank1" ] || fail "rank 1 not found among the launcher's children"
kill -9 "$rank1"
start=$(date +%s)
set +e
wait "$launcher"
code=$?
set -e
cat killed.log
[ "$code" = 1 ] || fail "expected exit 1 from the launcher, got $code"
[ $(( $(date +%s) - start )) -lt 60 ] || fail "rank 0 took more than 60 s to stop"
expect_in "$(cat killed.log)" "collective failed"
[ "$(sqlite3 "$DB2" "select status from runs")" = "failed" ] || fail "run not marked failed"
reason=$(sqlite3 "$DB2" "select reason from runs")
expect_in "$reason" "rank 1 was killed by signal 9"
epochs_kept=$(sqlite3 "$DB2" "select count(*) from epochs")
[ "$epochs_kept" -ge 1 ] || fail "the epochs recorded before the failure were lost"

# The next invocation resumes from the last checkpoint and finishes.
expect_exit 0 "$SWAVBENCH" run run.lua --nproc 2 --set epochs=6 --db "$DB2"
expect_in "$OUT" "resuming run #1"
[ "$(sqlite3 "$DB2" "select status from runs")" = "done" ] || fail "resumed run not done"
[ "$(sqlite3 "$DB2" "select count(*) from epochs")" = 6 ] || fail "expected 6 epoch rows"
echo "distributed: ok (killed after $epochs_kept epoch(s): $reason)"
