# The Fashion-MNIST scenes profile of ablation_crops.lua at CI size, in its selection mode
# (seeds from 100, scored on the validation split): the runs, the low-shot rows and their cards,
# the raw-pixel control beside the random one; the sample grid; and the two new bad inputs.
source "$(dirname "$0")/lib.sh"
tiny=(--set profile=scenes --set methods=swav --set seeds=1 --set seed_base=100 --set epochs=1
      --set subset=512 --set eval_train_images=2000 --set eval_test_images=500 --set eval_split=val)

"$SWAVBENCH" run ablation_crops.lua --db "$DB" "${tiny[@]}" > scenes.log 2>&1 || { cat scenes.log; fail "scenes profile failed"; }
cat scenes.log
# SwAV x 2 crop settings, the random control and the raw-pixel control, all on seed 100.
[ "$(sql "select count(*) from runs where status='done' and json_extract(config_json, '$.seed') = 100 and json_extract(config_json, '$.dataset') = 'fashion-scenes'")" = 4 ] || fail "expected 4 runs on fashion-scenes, seed 100"
for m in swav random pixels; do
  for metric in top1_k10 top1_k10_std top1_k100 top1_k100_std top1_all; do
    [ "$(sql "select count(*) from evals e join runs r on r.id = e.run_id where r.method='$m' and e.protocol='lowshot' and e.metric='$metric' and e.value between 0 and 100")" -ge 1 ] || fail "$m: no lowshot $metric"
  done
done
# Every row scored on the validation split, at the 32 px canvas.
[ "$(sql "select count(distinct protocol) from evals where json_extract(card_json, '$.test_split') = 'val'")" = 2 ] || fail "knn and lowshot not both on the validation split"
[ "$(sql "select count(*) from evals where json_extract(card_json, '$.test_split') != 'val'")" = 0 ] || fail "a row was scored on the test split while choosing"
[ "$(sql "select count(*) from evals where json_extract(card_json, '$.transform') != 'resize 32 + centre crop 32'")" = 0 ] || fail "a row was not scored at 32 px"
# The low-shot card: the draws, the l2 chosen on the selection set, the split sizes.
card="$(sql "select card_json from evals e join runs r on r.id = e.run_id where r.method='swav' and e.protocol='lowshot' limit 1")"
expect_in "$card" '"chosen_l2"'
expect_in "$card" '"n_selection":1000'
expect_in "$card" '"n_pool":1000'
expect_in "$card" '"n_test":500'
# The pixels control's features are the pixels, not a network's.
expect_in "$(sql "select card_json from evals e join runs r on r.id = e.run_id where r.method='pixels' and e.protocol='knn' limit 1")" "the pixels of the eval crop"
expect_in "$(cat scenes.log)" "| pixels | 2x32 |"
expect_in "$(cat scenes.log)" "| random | 2x32 |"
expect_in "$(cat scenes.log)" "validation split"

# A contact sheet of the data: 10 columns of 32 px x 2 with 2 px gutters.
expect_exit 0 "$SWAVBENCH" data sample-grid --split val --per-class 3 --out grid.png
expect_in "$OUT" "wrote grid.png (662x200 px): val of fashion-scenes (5000 images, 10 classes)"
[ "$(head -c 8 grid.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "grid.png is not a PNG"

# Bad input: a protocol that needs a network, on the pixels control; the validation split of a
# dataset that has none. Both name the file and line and what would be right; nothing recorded
# is lost.
before="$(sql "select count(*) from evals")"
cat > pixels_linear.lua <<'LUA'
local run = bench.pretrain { method = "pixels", dataset = "fashion-scenes", subset = 512,
  crops = { { count = 2, size = 32, min_scale = 0.08, max_scale = 1.0 } }, seed = 100,
  epochs = 1, batch_size = 64, knn_every = 0 }
bench.eval(run, { linear = { epochs = 1 } })
LUA
expect_exit 2 "$SWAVBENCH" run pixels_linear.lua --db "$DB"
expect_in "$OUT" "pixels_linear.lua:4"
expect_in "$OUT" "protocol 'linear' trains or fine-tunes a network"
expect_in "$OUT" "frozen-feature protocols (knn, linear_fast, lowshot)"
cat > val_split.lua <<'LUA'
local run = bench.pretrain { method = "random", subset = 512, seed = 100, knn_every = 0 }
bench.eval(run, { knn = { test_split = "val", train_subset = 500, test_subset = 200 } })
LUA
expect_exit 2 "$SWAVBENCH" run val_split.lua --db "$DB"
expect_in "$OUT" "val_split.lua:2"
expect_in "$OUT" "test_split = 'val' needs a dataset with a validation split (fashion-scenes)"
[ "$(sql "select count(*) from evals")" = "$before" ] || fail "a refused eval changed the recorded evals"
echo "scenes: ok"
