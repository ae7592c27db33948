# Bad input is exit code 2 with a message naming FILE:LINE and what would be right.
source "$(dirname "$0")/lib.sh"

cat > typo.lua <<'LUA'
local common = { subset = 512 }
bench.pretrain{ method = "supervised", epoch = 1 }
LUA
expect_exit 2 "$SWAVBENCH" run typo.lua --db "$DB"
expect_in "$OUT" "typo.lua:2:"
expect_in "$OUT" "unknown config key 'epoch'"
expect_in "$OUT" "did you mean 'epochs'"

printf 'local x = 1\nlocal y = \nbench.log("never")\nlocal = 3\n' > syntax.lua
expect_exit 2 "$SWAVBENCH" run syntax.lua --db "$DB"
expect_in "$OUT" "syntax.lua:4:"

printf 'bench.log("start")\nos.execute("touch pwned")\n' > escape.lua
expect_exit 2 "$SWAVBENCH" run escape.lua --db "$DB"
expect_in "$OUT" "escape.lua:2:"
expect_in "$OUT" "os.execute is not available in the swavbench sandbox"
[ ! -e pwned ] || fail "os.execute ran"

printf 'local f = io.open("/etc/passwd")\n' > io.lua
expect_exit 2 "$SWAVBENCH" run io.lua --db "$DB"
expect_in "$OUT" "io.open is not available in the swavbench sandbox"

printf 'bench.pretrain{ method = "supervised", subset = 512, epochs = 1 }\n' > set.lua
expect_exit 2 "$SWAVBENCH" run set.lua --db "$DB" --set epohcs=1
expect_in "$OUT" "--set epohcs"
expect_in "$OUT" "did you mean 'epochs'"

printf 'local runs = {}\nbench.pretrain{ method = "supervised", subset = 512, tags = "crops" }\n' > tags.lua
expect_exit 2 "$SWAVBENCH" run tags.lua --db "$DB"
expect_in "$OUT" "tags.lua:2:"
expect_in "$OUT" "'tags' must be a list of names like {\"crops\"}"
printf 'bench.pretrain{ method = "supervised", subset = 512, tags = { "crops", "my table" } }\n' > tag.lua
expect_exit 2 "$SWAVBENCH" run tag.lua --db "$DB"
expect_in "$OUT" "tag \"my table\" in 'tags' is not a name"

# A protocol option out of range or of the wrong type: exit 2 at the script's line, and the
# results already recorded for the run are neither replaced nor joined by a refused one.
cat > knn.lua <<'LUA'
local run = bench.pretrain{ method = "random", label = "control" }
bench.eval(run, { knn = { k = { 20 }, train_subset = 500, test_subset = 200 } })
bench.eval(run, { knn = { k = 0, train_subset = 500, test_subset = 200 } })
LUA
expect_exit 2 "$SWAVBENCH" run knn.lua --db "$WORK/knn.sqlite"
expect_in "$OUT" "knn.lua:3: option 'k' of protocol 'knn' must be >= 1, got 0"
[ "$(sqlite3 "$WORK/knn.sqlite" "select count(*) from evals where protocol = 'knn' and metric = 'top1_k20'")" = 1 ] ||
  fail "the recorded kNN result was lost or a refused one was added"
printf 'local run = bench.pretrain{ method = "random" }\nbench.eval(run, { linear_fast = { epochs = "ten" } })\n' > type.lua
expect_exit 2 "$SWAVBENCH" run type.lua --db "$WORK/knn.sqlite"
expect_in "$OUT" "type.lua:2: option 'epochs' of protocol 'linear_fast' must be an integer, got \"ten\" (a string)"

expect_exit 2 "$SWAVBENCH" run no_such_script.lua --db "$DB"
expect_in "$OUT" "no_such_script.lua' not found"

# A truncated dataset file names the file; nothing is trained and the run is recorded failed.
mkdir fm
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  gzip -dc "/usr/share/datasets/fashion-mnist/$f.gz" > "fm/$f"
done
head -c 1000000 fm/train-images-idx3-ubyte > fm/cut && mv fm/cut fm/train-images-idx3-ubyte
printf 'bench.pretrain{ method = "supervised", subset = 512, epochs = 1, data_path = "%s/fm" }\n' "$WORK" > trunc.lua
expect_exit 2 "$SWAVBENCH" run trunc.lua --db "$DB"
expect_in "$OUT" "fm/train-images-idx3-ubyte"
expect_in "$OUT" "truncated"
[ "$(sql "select status from runs")" = "failed" ] || fail "truncated data: run not marked failed"

# A missing dataset says how to get it.
printf 'bench.pretrain{ method = "supervised", subset = 512, epochs = 1, data_path = "%s/nowhere" }\n' "$WORK" > missing.lua
expect_exit 2 "$SWAVBENCH" run missing.lua --db "$DB"
expect_in "$OUT" "not found"

# A NaN loss stops the run as failed (exit 1) naming the iteration; the epoch before is kept.
cat > nan.lua <<'LUA'
bench.pretrain{ method = "supervised", subset = 512, batch_size = 128, epochs = 3,
                base_lr = 1e30, final_lr = 1e30, label = "diverges" }
LUA
expect_exit 1 "$SWAVBENCH" run nan.lua --db "$DB"
expect_in "$OUT" "at iteration"
[ "$(sql "select status from runs where label='diverges'")" = "failed" ] || fail "NaN run not failed"
expect_in "$(sql "select reason from runs where label='diverges'")" "iteration"
echo "bad_input: ok"
