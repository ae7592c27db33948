# `swavbench report`: a real database (smoke.lua on a small subset with two seeds, plus a forced
# SwAV collapse with the kNN monitor, for an alarm and a kNN curve), the HTML report written from
# it, and the page rendered by headless Chromium: the dumped DOM must show the run labels, a
# metric value and a mean ± std cell equal to the database's, every plot, the provenance git sha
# and the alarm. The screenshot is kept ($SWAVBENCH_ARTIFACT_DIR/report-screenshot.png, else
# /tmp/swavbench-report-screenshot.png).
source "$(dirname "$0")/lib.sh"

CHROMIUM="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$CHROMIUM" ] || fail "chromium is not installed: run scripts/setup-deps.sh (it installs chromium and gnuplot-nox)"
command -v gnuplot > /dev/null || fail "gnuplot is not installed: run scripts/setup-deps.sh (it installs gnuplot-nox)"

t_start=$(date +%s)
# The database, from the real binary: 2 seeds x (supervised 3 epochs, random control) on 1000
# images; and a 2-epoch SwAV run forced to collapse (as collapse_alarm.sh) with the kNN monitor
# after every epoch.
"$SWAVBENCH" run smoke.lua --db "$DB" --set train_images=1000 --set seeds=2 \
  > smoke.log 2>&1 || { cat smoke.log; fail "smoke.lua failed"; }
cat > collapse.lua <<'LUA'
bench.pretrain{ label = "forced collapse", method = "swav", arch = "resnet10", width = 0.25,
                small_stem = true, subset = 512, batch_size = 128, epochs = 2, knn_every = 1,
                freeze_prototypes_iters = 0, collapse_patience = 2,
                epsilon = 1000.0, temperature = 1000.0 }
LUA
"$SWAVBENCH" run collapse.lua --db "$DB" > collapse.log 2>&1 || { cat collapse.log; fail "collapse.lua failed"; }
[ "$(sql "select count(*) from alarms")" -ge 1 ] || { cat collapse.log; fail "the forced collapse raised no alarm"; }
t_db=$(date +%s)

# Bad input: a database that does not exist is exit code 2 and is not created.
expect_exit 2 "$SWAVBENCH" report --out "$WORK/none" --db "$WORK/missing.sqlite"
expect_in "$OUT" "does not exist"
[ ! -e "$WORK/missing.sqlite" ] || fail "report created the missing database"

REP="$WORK/rep"
"$SWAVBENCH" report --out "$REP" --db "$DB" > report.log 2>&1 || { cat report.log; fail "report failed"; }
cat report.log
t_report=$(date +%s)
[ -s "$REP/index.html" ] || fail "no $REP/index.html"
n_png=$(find "$REP/plots" -maxdepth 1 -name '*.png' | wc -l)
n_svg=$(find "$REP/plots" -maxdepth 1 -name '*.svg' | wc -l)
[ -s "$REP/plots/gnuplot/plots.gp" ] || fail "no gnuplot script kept"
[ "$(sql "select count(*) from epochs where extra_json like '%knn_top1%'")" = 2 ] || fail "no kNN monitor rows"
grep -q 'title "kNN top-1 (%)" axes x1y2' "$REP/plots/gnuplot/plots.gp" || fail "no kNN monitor curve plotted"
grep -q 'set arrow from 2, graph 0' "$REP/plots/gnuplot/plots.gp" || fail "the collapse alarm is not marked on its curve"

# Plots the database calls for: one curve chart per run with epoch rows, one ablation chart per
# (suite, metric) of completed runs for the two default metrics, one throughput chart.
n_curves=$(sql "select count(distinct run_id) from epochs")
n_ablation=$(sql "select count(distinct r.suite || '|' || e.protocol || '.' || e.metric) from evals e
                  join runs r on r.id = e.run_id where r.status = 'done'
                  and e.protocol || '.' || e.metric in ('knn.top1_k20', 'linear_fast.top1_best')")
n_plots=$((n_curves + n_ablation + 1))
echo "plots: $n_curves curve charts + $n_ablation ablation charts + 1 throughput = $n_plots"
[ "$n_curves" = 3 ] || fail "expected 3 runs with epoch rows, got $n_curves"
[ "$n_png" = "$n_plots" ] || fail "expected $n_plots PNG files, found $n_png"
[ "$n_svg" = "$n_plots" ] || fail "expected $n_plots SVG files, found $n_svg"

# Self-contained: no script, no resource from elsewhere.
if grep -Eiq '<script|(src|href)="(https?:)?//' "$REP/index.html"; then
  fail "index.html loads something from outside or runs JavaScript"
fi

# Render it. Chromium as root needs --no-sandbox; its own profile keeps it out of $HOME.
chrome() {
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$WORK/chrome-profile" "$@" 2>> chrome.log
}
chrome --dump-dom "file://$REP/index.html" > dom.html || { tail -20 chrome.log; fail "chromium --dump-dom failed"; }
chrome --screenshot="$WORK/screenshot.png" --window-size=1280,2000 "file://$REP/index.html" \
  > /dev/null || { tail -20 chrome.log; fail "chromium --screenshot failed"; }
t_render=$(date +%s)
DOM="$(cat dom.html)"
[ "${#DOM}" -gt 1000 ] || fail "the dumped DOM is empty"

# What the page shows.
expect_in "$DOM" "swavbench report"
# The claims come first; these runs (no ablation tags) bear on none of them yet.
expect_in "$DOM" "<section id=\"claims\"><h2>The paper's claims</h2>"
expect_in "$DOM" "no completed runs for side"
for label in "supervised" "random init" "forced collapse"; do
  expect_in "$DOM" "$label"
done
n_img=$(grep -o '<img ' dom.html | wc -l)
n_data_img=$(grep -o '<img alt="[^"]*" src="data:image/png;base64,' dom.html | wc -l)
[ "$n_img" = "$n_plots" ] || fail "the page shows $n_img images, expected $n_plots plots"
[ "$n_data_img" = "$n_plots" ] || fail "only $n_data_img of $n_plots plots are embedded data URIs"
# A run's metric value, as stored.
run1=$(sql "select id from runs where label = 'supervised' order by id limit 1")
v=$(sql "select printf('%.2f', value) from evals where run_id = $run1 and protocol = 'knn' and metric = 'top1_k20'")
[ -n "$v" ] || fail "no knn.top1_k20 for run $run1"
expect_in "$DOM" "<td>knn.top1_k20</td><td class=\"num metric-value\">$v</td>"
# The table cell over the two seeds: mean ± sample std (n=2), computed here from the database.
cell=$(sql "select value from evals e join runs r on r.id = e.run_id
            where r.label = 'supervised' and r.status = 'done' and protocol = 'knn' and metric = 'top1_k20'" |
  awk '{ x[NR] = $1; s += $1 } END { m = s / NR; for (i = 1; i <= NR; i++) q += (x[i] - m) ^ 2;
         printf "%.2f ± %.2f (n=%d)", m, sqrt(q / (NR - 1)), NR }')
echo "supervised knn.top1_k20: run #$run1 $v; over seeds $cell"
expect_in "$DOM" "<td>supervised</td><td class=\"num\">$cell</td>"
# Provenance: every git sha the runs recorded, and the protocol cards.
for sha in $(sql "select distinct git_sha from runs"); do
  expect_in "$DOM" "<dd class=\"prov-git\">$sha</dd>"
done
expect_in "$DOM" "protocol card (linear_fast)"
expect_in "$DOM" '"protocol": "linear_fast"'  # the card, pretty-printed
# The alarm, prominent: its section, reason and advice.
expect_in "$DOM" "<section id=\"alarms\" class=\"alarms\">"
reason=$(sql "select reason from alarms limit 1" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g')
expect_in "$DOM" "Reason: $reason"
expect_in "$DOM" "freeze the prototypes longer"
# The paper's tables (harness/report/paper_tables.cpp), one block each.
n_paper=$(grep -o '<div class="paper-block">' dom.html | wc -l)
[ "$n_paper" = 7 ] || fail "expected the 6 paper tables and the cost table, found $n_paper"

# The screenshot: a real PNG, kept for people to look at.
[ "$(head -c 4 "$WORK/screenshot.png" | tail -c 3)" = "PNG" ] || fail "the screenshot is not a PNG"
if [ -n "${SWAVBENCH_ARTIFACT_DIR:-}" ]; then
  mkdir -p "$SWAVBENCH_ARTIFACT_DIR"
  shot="$SWAVBENCH_ARTIFACT_DIR/report-screenshot.png"
else
  shot=/tmp/swavbench-report-screenshot.png
fi
cp "$WORK/screenshot.png" "$shot"
echo "screenshot: $shot"
echo "timings: database $((t_db - t_start)) s, report $((t_report - t_db)) s, chromium $((t_render - t_report)) s"
echo "report: ok"
