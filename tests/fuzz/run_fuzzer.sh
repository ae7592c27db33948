#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time, as CTest's fuzz.<name> test:
#   run_fuzzer.sh TARGET CORPUS_DIR SECONDS
# CORPUS_DIR holds the committed seeds (seeds/) and regression inputs (crashes/: every input a
# fuzzer once crashed on, kept after the fix). The regression inputs run first, one by one; then
# the fuzzer explores from a temporary copy of the seeds (the committed corpus never changes).
# A finding fails the test and is left in the temporary folder, whose path is printed.
set -euo pipefail
target="$1" corpus="$2" seconds="$3"
work="$(mktemp -d /tmp/swavbench_fuzz.XXXXXX)"
export SWAVBENCH_FUZZ_SCRATCH="$work"
mkdir -p "$work/corpus" "$work/findings"
if compgen -G "$corpus/crashes/*" > /dev/null; then
  "$target" "$corpus"/crashes/* 2>&1 | tail -n 3
fi
cp "$corpus"/seeds/* "$work/corpus/"
set +e
"$target" "$work/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/findings/" -print_final_stats=1 > "$work/log" 2>&1
rc=$?
set -e
grep -E "^stat::number_of_executed_units|^#[0-9]+ *DONE|ERROR|SUMMARY" "$work/log" | head -n 20 || true
if [ "$rc" != 0 ]; then
  tail -n 60 "$work/log"
  echo "fuzz: $(basename "$target") found a failing input: $(ls "$work/findings")" \
       "(kept in $work/findings; commit it under $corpus/crashes/ with the fix)" >&2
  exit 1
fi
rm -rf "$work"
