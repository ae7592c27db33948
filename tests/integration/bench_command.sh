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
  # An AVX2 core set by the user on a CPU with AVX-512 is kept, with a note naming the fix.
  if grep -q avx512bw /proc/cpuinfo && grep -q avx512dq /proc/cpuinfo && grep -q avx512vl /proc/cpuinfo; then
    avx2="$(OPENBLAS_CORETYPE=Haswell "$SWAVBENCH" --version)"
    expect_in "$avx2" "OpenBLAS core: Haswell (set by OPENBLAS_CORETYPE)"
    expect_in "$avx2" "note: OPENBLAS_CORETYPE=Haswell keeps OpenBLAS to its AVX2 kernels"
  fi
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
# --peers: ours and the PyTorch eager peer (Debian's python3-torch) alternated, 2 rounds, the
# ratio stored per round (its min/median/max) beside both img/s; the peer's recipe is ours.
expect_exit 0 "$SWAVBENCH" bench --peers --rounds 2 --min-time 0.01 --peer-steps 1 --db "$DB"
echo "$OUT"
expect_in "$OUT" "round 2: ours"
expect_in "$OUT" "ours / pytorch_eager-debian"
expect_in "$OUT" "resnet10 w0.25 small stem, 1 channel, batch 256, crops 2x28,4x14"
[ "$(sql "select count(*) from bench where name = 'peers/swav_step/ours_over_pytorch_eager-debian' and unit = 'x'")" = 1 ] || fail "no ratio row"
[ "$(sql "select json_array_length(extra_json, '$.ratio') from bench where name = 'peers/swav_step/ours_over_pytorch_eager-debian'")" = 2 ] || fail "the ratio row lacks its 2 rounds"
# The stored median is the median of the rounds' ours / peer, each from the img/s rows' rounds.
check=$(sql "select abs(r.value - (json_extract(o.extra_json, '$.img_per_s[0]') / json_extract(p.extra_json, '$.img_per_s[0]') + json_extract(o.extra_json, '$.img_per_s[1]') / json_extract(p.extra_json, '$.img_per_s[1]')) / 2) < 1e-9 from bench r, bench o, bench p where r.name = 'peers/swav_step/ours_over_pytorch_eager-debian' and o.name = 'peers/swav_step/ours' and p.name = 'peers/swav_step/pytorch_eager-debian'")
[ "$check" = 1 ] || fail "the stored ratio is not the median of the rounds' ratios"
expect_exit 2 "$SWAVBENCH" bench --peers --rounds 0 --db "$DB"
expect_in "$OUT" "--rounds must be >= 1, got 0"

# --profile: the SwAV step per operator (bench/profile_step), one profiled step; its rows are
# the step's wall time with and without the profiler, the time outside every operator and the
# operators, each self time within the step's.
expect_exit 0 "$SWAVBENCH" bench --profile swav --profile-steps 1 --profile-top 5 --db "$DB"
echo "$OUT"
expect_in "$OUT" "profile_step: swav step, batch 256"
expect_in "$OUT" "aten::convolution_backward"
[ "$(sql "select count(*) from bench where name = 'profile/swav_step/wall' and unit = 'ms/step' and value > 0")" = 1 ] || fail "no profile wall row"
[ "$(sql "select count(*) from bench where name = 'profile/swav_step/wall_unprofiled' and value > 0")" = 1 ] || fail "no unprofiled wall row"
[ "$(sql "select count(*) from bench where name = 'profile/swav_step/aten::mkldnn_convolution'")" = 1 ] || fail "no convolution row"
[ "$(sql "select count(*) from bench where name like 'profile/swav_step/%' and json_extract(extra_json, '$.rank') is not null")" -ge 5 ] || fail "fewer than --profile-top operators stored"
over=$(sql "select count(*) from bench o, bench w where o.name like 'profile/swav_step/%' and json_extract(o.extra_json, '$.rank') is not null and w.name = 'profile/swav_step/wall' and o.value > w.value")
[ "$over" = 0 ] || fail "an operator's self time exceeds the step's wall time"
[ "$(sql "select sum(value) <= (select value from bench where name = 'profile/swav_step/wall') from bench where name like 'profile/swav_step/%' and json_extract(extra_json, '$.rank') is not null")" = 1 ] || fail "the operators' self times add up to more than the step"
rows_before=$(sql "select count(*) from bench")
expect_exit 2 "$SWAVBENCH" bench --profile nosuchmethod --db "$DB"
expect_in "$OUT" "profile_step --method nosuchmethod failed (exit 2)"
expect_in "$OUT" "config key 'method' has no value 'nosuchmethod'"
expect_exit 2 "$SWAVBENCH" bench --profile , --db "$DB"
expect_in "$OUT" "names no method"
expect_exit 2 "$SWAVBENCH" bench --profile swav --peers --db "$DB"
expect_in "$OUT" "--profile and --peers are two separate measurements"
[ "$(sql "select count(*) from bench")" = "$rows_before" ] || fail "a refused --profile stored rows"
echo "bench_command: ok"
