# A first `./swavbench run` installs and configures only what building and running needs: the
# package list it would install (scripts/setup-deps.sh's `run` set) holds none of the tests'
# packages, the test set holds all of both, and the configure the wrapper runs succeeds with the
# test-only CMake packages made unfindable.
source "$(dirname "$0")/lib.sh"

run_set="$("$SOURCE_DIR/scripts/setup-deps.sh" --list run)"
test_set="$("$SOURCE_DIR/scripts/setup-deps.sh" --list test)"
in_set() { grep -qx "$1" <<< "$2"; }

for p in chromium texlive-latex-base texlive-latex-recommended python3-torch python3-torchvision \
         clang-format libgtest-dev libgmock-dev libbenchmark-dev sqlite3 clang libclang-rt-14-dev; do
  in_set "$p" "$run_set" && fail "the main job's set-up would install $p, which only the tests need"
  in_set "$p" "$test_set" || fail "the test set-up does not install $p"
done
for p in libtorch-dev libopenblas0-pthread liblua5.4-dev libsqlite3-dev dataset-fashion-mnist \
         liblinear-dev libturbojpeg0-dev; do
  in_set "$p" "$run_set" || fail "the main job's set-up lacks $p"
done
while read -r p; do
  in_set "$p" "$test_set" || fail "$p is in the run set but not in the test set"
done <<< "$run_set"
echo "run set: $(wc -l <<< "$run_set") packages, test set: $(wc -l <<< "$test_set")"
expect_exit 2 "$SOURCE_DIR/scripts/setup-deps.sh" --list tests
expect_in "$OUT" "unknown set 'tests'"

# The wrapper asks for the run set and configures without tests and benchmarks...
expect_in "$(cat "$SOURCE_DIR/swavbench")" '"$root/scripts/setup-deps.sh" run'
expect_in "$(cat "$SOURCE_DIR/swavbench")" 'lean_configure=(-DSWAVBENCH_BUILD_TESTS=OFF -DSWAVBENCH_BUILD_BENCH=OFF)'
# ... and that configure needs neither GoogleTest nor Google Benchmark nor Python.
cmake -S "$SOURCE_DIR" -B lean -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSWAVBENCH_BUILD_TESTS=OFF -DSWAVBENCH_BUILD_BENCH=OFF -DSWAVBENCH_USE_PCH=OFF \
  -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_Python3=ON -DCMAKE_DISABLE_FIND_PACKAGE_Python=ON \
  > configure.log 2>&1 || { cat configure.log; fail "the lean configure failed"; }
grep -q "swavbench" lean/build.ninja || fail "the lean configure has no swavbench target"
if grep -q "test_models\|bench_sinkhorn" lean/build.ninja; then fail "the lean configure builds tests or benchmarks"; fi
echo "lean_setup: ok"
