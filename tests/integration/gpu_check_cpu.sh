# The CPU-checkable parts of scripts/device/gpu-check.sh, so that a lent GPU's minutes are not
# spent on a script error: the script parses; `data make-imagefolder` writes a deterministic tree
# of real JPEGs that the ImageFolder reader trains on; suite/gpu_throughput.lua runs (ResNet-50,
# 8 crops, tiny sizes, on the CPU) and records its epoch rows; the PyTorch eager peer computes
# the authors' Sinkhorn and swapped loss (checked against a hand-computed case and against
# tests/unit/swav_reference.py) and runs its step; gpu_figures.py gathers them into the JSON.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3  # Debian's, with python3-torch (scripts/setup-deps.sh)
export PYTHONDONTWRITEBYTECODE=1  # nothing written into the source tree

bash -n "$SOURCE_DIR/scripts/device/gpu-check.sh" || fail "gpu-check.sh does not parse"
"$PY" -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' \
  "$SOURCE_DIR/scripts/device/gpu_figures.py" "$SOURCE_DIR/bench/peers/swav_eager.py" ||
  fail "a GPU-check Python script does not compile"

# make-imagefolder: counts, real JPEG files of the asked size, determinism, seeds differ.
expect_exit 0 "$SWAVBENCH" data make-imagefolder --out f1 --classes 3 --train-per-class 4 \
  --val-per-class 2 --size 64 --seed 7
expect_in "$OUT" "12 train, 6 val images"
[ "$(find f1/train -name '*.jpg' | wc -l)" = 12 ] || fail "expected 12 train JPEGs"
[ "$(find f1/val -name '*.jpg' | wc -l)" = 6 ] || fail "expected 6 val JPEGs"
[ "$(ls f1/train | tr '\n' ' ')" = "pullover t_shirt trouser " ] || fail "class folders: $(ls f1/train)"
first="$(find f1/train -name '*.jpg' | sort | head -n 1)"
[ "$(head -c 3 "$first" | od -An -tx1 | tr -d ' ')" = "ffd8ff" ] || fail "$first is not a JPEG"
"$SWAVBENCH" data make-imagefolder --out f2 --classes 3 --train-per-class 4 --val-per-class 2 \
  --size 64 --seed 7 > /dev/null
diff -r f1 f2 > /dev/null || fail "the same seed wrote different files"
"$SWAVBENCH" data make-imagefolder --out f3 --classes 3 --train-per-class 4 --val-per-class 2 \
  --size 64 --seed 8 > /dev/null
! cmp -s "$first" "f3/${first#f1/}" || fail "seeds 7 and 8 wrote the same image"
expect_exit 2 "$SWAVBENCH" data make-imagefolder --out f4 --classes 11
expect_in "$OUT" "--classes must be in [1, 10]"
expect_exit 2 "$SWAVBENCH" data make-imagefolder --out f4 --size 8
expect_in "$OUT" "--size must be in [32, 1024]"

# The throughput suite, at CPU size: ResNet-50, 2 large + 6 small crops, two epochs per batch.
expect_exit 0 "$SWAVBENCH" run gpu_throughput.lua --db "$DB" --set data_path="$WORK/f1" \
  --set device=cpu --set precision=fp32 --set large=32 --set small=16 --set batches=4 \
  --set images=12 --set workers=1 --threads 2
expect_in "$OUT" "gpu_throughput: 1 run(s)"
[ "$(sql "select status || ' ' || label from runs")" = "done SwAV R50 2x32+6x16 bs4" ] ||
  fail "run row: $(sql "select status, label, reason from runs")"
[ "$(sql "select count(*) from epochs where img_per_s > 0 and data_wait between 0 and 1")" = 2 ] ||
  fail "expected 2 epoch rows with img/s and data-wait"
[ "$(sql "select json_extract(config_json, '$.arch') || ' ' || json_extract(config_json, '$.precision') || ' ' || json_array_length(json_extract(config_json, '$.crops')) from runs")" = "resnet50 fp32 2" ] ||
  fail "not a ResNet-50 multi-crop run"

# The eager peer's loss: a hand-computed case (equal scores: uniform codes and predictions, so
# the loss is ln K exactly) and Sinkhorn against the independent float64 reference.
"$PY" - "$SOURCE_DIR" <<'EOF' || fail "the eager peer's Sinkhorn or loss is wrong"
import math, sys
import torch
sys.path[:0] = [sys.argv[1] + "/bench/peers", sys.argv[1] + "/tests/unit"]
import swav_eager, swav_reference
B, K, crops = 4, 5, 3
loss = swav_eager.swav_loss(torch.zeros(crops * B, K, dtype=torch.float64), B, crops, [0, 1],
                            0.05, 3, 0.1)
assert abs(float(loss) - math.log(K)) < 1e-12, float(loss)
torch.manual_seed(0)
scores = torch.rand(16, 7, dtype=torch.float64) * 2 - 1
mine, ref = swav_eager.sinkhorn(scores, 0.05, 3), swav_reference.sinkhorn(scores, 0.05, 3)
assert torch.allclose(mine, ref, rtol=0, atol=1e-12), (mine - ref).abs().max()
# The codes are a transport plan: each sample's row sums to 1 after the last normalisation.
assert torch.allclose(mine.sum(1), torch.ones(16, dtype=torch.float64), atol=1e-12)
print("eager peer: loss and Sinkhorn ok")
EOF

# The eager peer's step on the CPU, tiny sizes: finite losses, one per step, figures present.
mkdir -p peer
"$PY" "$SOURCE_DIR/bench/peers/swav_eager.py" --device cpu --arch resnet18 --batch 4 \
  --crops 2x32,6x16 --prototypes 30 --hidden 64 --warmup 1 --steps 2 --threads 1 \
  --json peer/bs4.json > peer.log 2>&1 || { cat peer.log; fail "eager peer failed"; }
"$PY" - peer/bs4.json <<'EOF' || fail "eager peer JSON"
import json, math, sys
r = json.load(open(sys.argv[1]))
assert len(r["losses"]) == 3 and all(math.isfinite(v) for v in r["losses"]), r["losses"]
assert r["img_per_s"] > 0 and r["batch"] == 4 and r["precision"] == "fp32", r
EOF

# The figures file gathers both and names what it could not measure.
"$PY" "$SOURCE_DIR/scripts/device/gpu_figures.py" --db "$DB" --peer-dir peer \
  --sinkhorn missing.json --ablation-db missing.sqlite --gpu-name cpu --out figures.json > /dev/null ||
  fail "gpu_figures.py failed"
"$PY" - figures.json <<'EOF' || fail "figures JSON"
import json, sys
f = json.load(open(sys.argv[1]))
row = f["swav_resnet50_throughput"][0]
assert row["batch_per_gpu"] == 4 and row["epoch_measured"] == 1 and row["img_per_s"] > 0, row
assert abs(row["ratio_vs_eager_peer"] - row["img_per_s"] / row["eager_peer_img_per_s"]) < 1e-9
assert "limited_by" in row  # a CPU misses the GPU targets, and says which stage limits it
assert "mfu_vs_bf16_peak" not in row and "cpu" in f["missing"]["mfu"]
assert "sinkhorn" in f["missing"] and "ablation_crops" in f["missing"]
EOF
echo "gpu_check_cpu: ok"
