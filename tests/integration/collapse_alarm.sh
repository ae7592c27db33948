# A forced collapse (codes and predictions made uniform: huge epsilon and temperature, so the
# loss sits at ln K) raises the alarm in the store; a healthy run does not.
source "$(dirname "$0")/lib.sh"

cat > collapse.lua <<'LUA'
local common = { method = "swav", subset = 512, batch_size = 128, epochs = 3, knn_every = 0,
                 freeze_prototypes_iters = 0, collapse_patience = 2 }
bench.pretrain(bench.merge(common, { label = "forced", epsilon = 1000.0, temperature = 1000.0 }))
-- The healthy run on 1024 images: at 512 its third epoch ends at 4.666, near ln K + margin.
bench.pretrain(bench.merge(common, { label = "healthy", subset = 1024 }))
LUA
"$SWAVBENCH" run collapse.lua --db "$DB" > out.log 2>&1 || { cat out.log; fail "run failed"; }
cat out.log
expect_in "$(cat out.log)" "ALARM (collapse)"
forced=$(sql "select count(*) from alarms a join runs r on r.id = a.run_id where r.label='forced' and a.kind='collapse'")
healthy=$(sql "select count(*) from alarms a join runs r on r.id = a.run_id where r.label='healthy'")
[ "$forced" = 1 ] || fail "forced collapse raised $forced alarms, expected 1"
[ "$healthy" = 0 ] || fail "healthy run raised $healthy alarms"
expect_in "$(sql "select advice from alarms")" "freeze the prototypes longer"
# Loss of the collapsed run is ln(100) = 4.6052 to 3 decimals.
loss=$(sql "select printf('%.3f', loss) from epochs e join runs r on r.id = e.run_id where r.label='forced' order by epoch desc limit 1")
[ "$loss" = "4.605" ] || fail "collapsed loss $loss, expected ln(100) = 4.605"

# collapse_stop ends the run early and says why.
cat > stop.lua <<'LUA'
bench.pretrain{ method = "swav", subset = 512, batch_size = 128, epochs = 6, knn_every = 0,
                epsilon = 1000.0, temperature = 1000.0, collapse_patience = 2,
                collapse_stop = true, label = "stopped" }
LUA
"$SWAVBENCH" run stop.lua --db "$DB" > stop.log 2>&1 || { cat stop.log; fail "stop run failed"; }
[ "$(sql "select count(*) from epochs e join runs r on r.id = e.run_id where r.label='stopped'")" = 2 ] || fail "collapse_stop did not stop after 2 epochs"
expect_in "$(sql "select reason from runs where label='stopped'")" "collapse alarm"
echo "collapse_alarm: ok"
