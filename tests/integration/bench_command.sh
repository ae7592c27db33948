# swavbench bench: runs one fast micro-benchmark through the Google Benchmark executables built
# next to swavbench, stores its figure in the bench table with the git sha, compares a second
# invocation (same sha: nothing to compare with), and says clearly when a filter matches nothing.
source "$(dirname "$0")/lib.sh"
[ -x "$(dirname "$SWAVBENCH")/bench/bench_losses" ] || fail "no bench/bench_losses next to $SWAVBENCH: scripts/test.sh configures with SWAVBENCH_BUILD_BENCH=ON and builds it"
FILTER='BM_SimclrLoss/B:256/crops:6/D:64/'

expect_exit 0 "$SWAVBENCH" bench --filter "$FILTER" --min-time 0.01 --db "$DB"
echo "$OUT"
expect_in "$OUT" "BM_SimclrLoss/B:256/crops:6/D:64"
expect_in "$OUT" "img/s"
[ "$(sql "select count(*) from bench where name like 'BM_SimclrLoss/B:256/crops:6/D:64%'")" = 1 ] || fail "expected 1 bench row"
[ "$(sql "select count(*) from bench where git_sha = '' or host = '' or created = ''")" = 0 ] || fail "bench row without provenance"
[ "$(sql "select value > 0 from bench")" = 1 ] || fail "bench value not positive"
[ "$(sql "select unit from bench")" = "img/s" ] || fail "unit is not img/s"
sha="$(sql "select git_sha from bench")"
version="$("$SWAVBENCH" --version)"
echo "$version"
expect_in "$version" "$sha"
# The machine's float32 peak, the measured GEMM rate against it, and (Debian's LibTorch calls
# OpenBLAS; PyTorch's wheels link MKL) the OpenBLAS core in use.
expect_in "$version" "fp32 peak"
expect_in "$version" "measured float32 GEMM"
if grep -q "^BLAS: OpenBLAS" <<< "$version"; then
  expect_in "$version" "OpenBLAS core: "
  # A core the user sets is kept, and a generic one is called out with the fix.
  generic="$(OPENBLAS_CORETYPE=Prescott "$SWAVBENCH" --version)"
  expect_in "$generic" "OpenBLAS core: Prescott (set by OPENBLAS_CORETYPE)"
  expect_in "$generic" "warning: OpenBLAS runs generic kernels"
fi
[ "$(sql "select json_extract(extra_json, '$.machine.fp32_peak_gflop_per_s') > 0 from bench")" = 1 ] || fail "no fp32 peak in the bench row"
# The raw counters and the benchmark context travel with the row.
[ "$(sql "select json_extract(extra_json, '$.context.num_cpus') > 0 from bench")" = 1 ] || fail "no num_cpus in extra_json"
[ -n "$(sql "select json_extract(extra_json, '$.context.library_build_type') from bench")" ] || fail "no library_build_type"
[ "$(sql "select json_extract(extra_json, '$.counters.iterations') >= 1 from bench")" = 1 ] || fail "no raw counters"

# A row from another commit is what a new figure is compared with (a tenth of today's figure, so
# timing noise cannot turn "faster" into "slower").
sqlite3 "$DB" "insert into bench(name, value, unit, git_sha, host, created, extra_json)
  select name, value / 10, unit, '0123456789abcdef', host, '2000-01-01T00:00:00Z', '{}' from bench"
expect_exit 0 "$SWAVBENCH" bench --filter "$FILTER" --min-time 0.01 --db "$DB"
expect_in "$OUT" "@ 0123456789"
expect_in "$OUT" "faster"
[ "$(sql "select count(*) from bench")" = 3 ] || fail "expected 3 rows after the second invocation"

# A filter that matches nothing: bad input, said plainly, nothing stored.
expect_exit 2 "$SWAVBENCH" bench --filter 'NoSuchBenchmark' --min-time 0.01 --db "$DB"
expect_in "$OUT" "--filter 'NoSuchBenchmark' matches no benchmark"
expect_in "$OUT" "BM_SimclrLoss/B:256/crops:6/D:64"
[ "$(sql "select count(*) from bench")" = 3 ] || fail "a bad filter stored rows"
echo "bench_command: ok"
