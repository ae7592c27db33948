# smoke.lua end to end on 5000 training images (half its default, to keep CI short; at 2000 the
# 3-epoch supervised run does not yet beat the control): rows in the database, the supervised
# run's probe beats the random control, and a second invocation trains nothing.
source "$(dirname "$0")/lib.sh"

"$SWAVBENCH" run smoke.lua --db "$DB" --set train_images=5000 > first.log 2>&1 || { cat first.log; fail "smoke.lua failed"; }
cat first.log
[ "$(sql "select count(*) from runs where status='done'")" = 2 ] || fail "expected 2 done runs"
[ "$(sql "select count(*) from epochs e join runs r on r.id = e.run_id where r.method='supervised'")" = 3 ] || fail "expected 3 epoch rows"
sup=$(sql "select value from evals e join runs r on r.id=e.run_id where r.method='supervised' and protocol='linear_fast' and metric='top1_last'")
rnd=$(sql "select value from evals e join runs r on r.id=e.run_id where r.method='random' and protocol='linear_fast' and metric='top1_last'")
echo "linear_fast top1: supervised $sup, random $rnd"
awk -v a="$sup" -v b="$rnd" 'BEGIN { exit !(a > b + 1.0) }' || fail "supervised ($sup) does not beat random ($rnd)"
expect_in "$(cat first.log)" "| supervised |"
# Every eval row carries its protocol card.
[ "$(sql "select count(*) from evals where card_json not like '%\"protocol\"%'")" = 0 ] || fail "eval without card"
# Provenance is recorded.
[ "$(sql "select count(*) from runs where git_sha = '' or torch_version = '' or host = ''")" = 0 ] || fail "missing provenance"

"$SWAVBENCH" run smoke.lua --db "$DB" --set train_images=5000 > second.log 2>&1 || { cat second.log; fail "second run failed"; }
expect_in "$(cat second.log)" "0 run(s) trained, 2 reused"
expect_in "$(cat second.log)" "reusing run #1"
[ "$(sql "select count(*) from runs")" = 2 ] || fail "rerun added runs"

# The CLI's read commands.
expect_exit 0 "$SWAVBENCH" db --db "$DB" runs
expect_in "$OUT" "supervised"
expect_exit 0 "$SWAVBENCH" db --db "$DB" show 1
expect_in "$OUT" "linear_fast.top1_last"
expect_exit 0 "$SWAVBENCH" db --db "$DB" export --csv
expect_in "$OUT" "run_id,hash,method,label,status,protocol,metric,value"
expect_exit 0 "$SWAVBENCH" tables --db "$DB" --format latex
expect_in "$OUT" "\\toprule"
expect_exit 0 "$SWAVBENCH" run smoke.lua --db "$DB" --set train_images=5000 --dry-run
expect_in "$OUT" "cached (run #1)"
echo "smoke_and_cache: ok"
