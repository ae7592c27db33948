# swavbench regress: suite/ci.lua with SwAV's Sinkhorn entropy regularisation broken
# (--set epsilon=5) against the committed baseline is caught and named, while the three methods
# that do not read epsilon pass against their baseline rows; a corrupt or missing baseline is bad
# input (exit 2) naming the file. Runs ci.lua once (~1 min on 2 cores). The passing run of main
# against its own baseline is CI's regression gate (.ci/run's last stage, alone on the machine
# with the baseline's throughput tolerance); it is not repeated here.
#
# CTest runs this next to other tests (ctest -j), which steal cores mid-epoch, so the throughput
# tolerance is loosened here (--throughput-tol 0.9); accuracies, losses and training statistics
# keep the baseline's tolerances.
source "$(dirname "$0")/lib.sh"
BASELINE="$SOURCE_DIR/results/baseline.json"
[ -f "$BASELINE" ] || fail "no committed baseline at $BASELINE"

# (1) a deliberately broken SwAV: epsilon 5 instead of 0.05 makes Sinkhorn's codes uniform. At
# one epoch of 6 iterations the loss (+0.9 %) and the accuracies (< 1 pt) hardly move; the code
# entropy goes to ln K (+14 %) and the largest prototype share more than doubles.
expect_exit 1 "$SWAVBENCH" regress --baseline "$BASELINE" --throughput-tol 0.9 --set epsilon=5
echo "$OUT" | sed -n '/^metric /,$p'
expect_in "$OUT" "regress: FAILED"
regressed="$(echo "$OUT" | grep 'REGRESSION' || true)"
expect_in "$regressed" "swav/code_entropy"
expect_in "$OUT" "regression(s): swav/code_entropy"
# Only SwAV reads epsilon: the other methods' numbers must not move, and they are compared.
if echo "$regressed" | grep -E '^(simclr|moco|supervised)/' > /dev/null; then
  fail "epsilon changed a method that does not use it: $regressed"
fi
for m in simclr moco supervised; do
  expect_in "$OUT" "$m/knn.top1_k20"
  expect_in "$OUT" "$m/throughput"
done
expect_in "$OUT" "moco/loss"

# (2) a corrupt and a missing baseline: exit 2, the file named, before anything trains.
printf '{"format": 1, "metrics": ' > corrupt.json
expect_exit 2 "$SWAVBENCH" regress --baseline corrupt.json
expect_in "$OUT" "corrupt.json"
expect_in "$OUT" "--update"
case "$OUT" in *"training run"*) fail "trained before checking the baseline" ;; esac
expect_exit 2 "$SWAVBENCH" regress --baseline missing.json
expect_in "$OUT" "missing.json not found"
expect_in "$OUT" "--update"
echo "regress: ok"
