# Each ablation suite at a tiny override writes the expected runs and evals and prints its table;
# a second invocation trains nothing.
source "$(dirname "$0")/lib.sh"
# CI size: one seed, one epoch on 512 images, every run scored on 2000 + 500 images.
tiny=(--set seeds=1 --set epochs=1 --set subset=512 --set eval_train_images=2000 --set eval_test_images=500)

"$SWAVBENCH" run ablation_crops.lua --db "$DB" "${tiny[@]}" > crops.log 2>&1 || { cat crops.log; fail "ablation_crops failed"; }
cat crops.log
# 4 methods x 2 crop settings + the random control.
[ "$(sql "select count(*) from runs where status='done'")" = 9 ] || fail "ablation_crops: expected 9 runs"
for m in swav simclr moco supervised; do
  [ "$(sql "select count(distinct r.id) from runs r join evals e on e.run_id=r.id where r.method='$m' and e.protocol='linear_fast'")" = 2 ] || fail "$m: expected 2 evaluated runs"
  expect_in "$(cat crops.log)" "| $m | 2x24+4x14 |"
  expect_in "$(cat crops.log)" "| $m | 2x28 |"
done
# The suite tags its runs; the paper's crops table selects by that tag.
[ "$(sql "select count(*) from run_tags where tag='crops'")" = 9 ] || fail "ablation_crops: expected 9 runs tagged crops"
"$SWAVBENCH" tables --db "$DB" --table crops > paper_crops.log 2>&1 || { cat paper_crops.log; fail "tables --table crops failed"; }
for m in SwAV SimCLR "MoCo v2" supervised; do expect_in "$(cat paper_crops.log)" "| $m |"; done
"$SWAVBENCH" run ablation_crops.lua --db "$DB" "${tiny[@]}" > again.log 2>&1 || { cat again.log; fail "rerun failed"; }
expect_in "$(cat again.log)" "0 run(s) trained, 9 reused"

"$SWAVBENCH" run ablation_batch.lua --db "$DB" "${tiny[@]}" > batch.log 2>&1 || { cat batch.log; fail "ablation_batch failed"; }
for b in 64 128 256 512; do
  [ "$(sql "select count(*) from runs where status='done' and json_extract(config_json, '$.batch_size') = $b and label = 'batch $b'")" = 1 ] || fail "batch $b run missing"
done
# Linear scaling rule: lr 0.3 x 64/256.
[ "$(sql "select printf('%.4f', json_extract(config_json, '$.base_lr')) from runs where label = 'batch 64'")" = "0.0750" ] || fail "lr not scaled"
[ "$(sql "select json_extract(config_json, '$.queue_length') from runs where label = 'batch 64'")" = 1024 ] || fail "no queue at batch 64"
expect_in "$(cat batch.log)" "| 512 | 0 |"
[ "$(sql "select count(*) from run_tags where tag='batch'")" = 4 ] || fail "ablation_batch: expected 4 runs tagged batch"

"$SWAVBENCH" run ablation_prototypes.lua --db "$DB" "${tiny[@]}" > protos.log 2>&1 || { cat protos.log; fail "ablation_prototypes failed"; }
for k in 10 30 100 300 1000 3000; do
  expect_in "$(cat protos.log)" "| learned | $k |"
done
expect_in "$(cat protos.log)" "| fixed random | 100 |"
echo "suites: ok"
