# transfer.lua end to end at CI size: every protocol writes its rows with a protocol card and
# the transfer table has a row per initialisation.
source "$(dirname "$0")/lib.sh"
"$SWAVBENCH" run transfer.lua --db "$DB" --set profile=ci > transfer.log 2>&1 || { cat transfer.log; fail "transfer.lua failed"; }
cat transfer.log
for label in SwAV supervised "random init"; do
  expect_in "$(cat transfer.log)" "| $label |"
  for protocol in linear knn semisup@1pct semisup@10pct voc07_svm voc_det; do
    n=$(sql "select count(*) from evals e join runs r on r.id = e.run_id where r.label = '$label' and e.protocol = '$protocol' and e.card_json like '%\"protocol\"%'")
    [ "$n" -ge 1 ] || fail "$label: no $protocol rows with a card"
  done
done
# The VOC set was written once, in the genuine layout.
root=$(ls -d "$WORK"/datasets/fashion-voc-* | head -n 1)
[ -f "$root/ImageSets/Main/test.txt" ] && [ -d "$root/Annotations" ] && [ -d "$root/JPEGImages" ] || fail "VOC layout missing"
# The detector's results files score the same through `data voc-eval`.
dets=$(sql "select json_extract(card_json, '$.detections_dir') from evals where protocol = 'voc_det' limit 1")
expect_exit 0 "$SWAVBENCH" data voc-eval --root "$root" --split test --detections "$dets"
expect_in "$OUT" "mAP"
table_map=$(echo "$OUT" | grep '^| \*\*mAP' | cut -d'|' -f5 | tr -d ' *')
# --format json: the same mAP at full precision; the protocol's stored value agrees.
expect_exit 0 "$SWAVBENCH" data voc-eval --root "$root" --split test --detections "$dets" --format json
json_map=$(echo "$OUT" | /usr/bin/python3 -c 'import json, sys; print("%.2f" % (100 * json.load(sys.stdin)["map_11point"]))')
[ "$json_map" = "$table_map" ] || fail "voc-eval json mAP $json_map differs from the table's $table_map"
# A wrong split is an error that names what the folder holds, not a 0.00 mAP (the devkit stops).
expect_exit 2 "$SWAVBENCH" data voc-eval --root "$root" --split val --detections "$dets"
expect_in "$OUT" "classes have no results file"
expect_in "$OUT" "the folder has results for split test (is --split val right?)"
# Semi-supervised subsets are the pinned files.
expect_in "$(sql "select card_json from evals where protocol = 'semisup@1pct' limit 1")" "fashion-mnist_0.01_seed0.txt"
echo "transfer: ok"
