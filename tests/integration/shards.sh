# A sweep fanned out as 3 shards (3 processes at once, each its own database, as the tasks of a
# cluster job array) and merged gives the tables of the same sweep run in one process, byte for
# byte; every run lands in exactly one shard; merging twice changes nothing; bad shard flags,
# a database of another schema version and two different results for one run are refused.
source "$(dirname "$0")/lib.sh"

cat > sweep.lua <<'LUA'
local common = { dataset = "fashion-mnist", arch = "resnet10", width = 0.25, small_stem = true,
                 subset = 256, batch_size = 128, epochs = 1, knn_every = 0,
                 crops = { { count = 2, size = 28, min_scale = 0.3, max_scale = 1.0 } } }
local runs = {}
for _, method in ipairs({ "swav", "simclr", "supervised" }) do
  for seed = 0, 1 do
    local run = bench.pretrain(bench.merge(common, { method = method, seed = seed,
                                                     label = method .. " s" .. seed,
                                                     tags = { "sweep" } }))
    bench.eval(run, { knn = { k = { 20 }, train_subset = 256, test_subset = 200 } })
    runs[#runs + 1] = run
  end
end
-- The same run asked for twice: it trains once, in one shard.
bench.pretrain(bench.merge(common, { method = "swav", seed = 0, label = "swav s0" }))
bench.table { title = "sweep", runs = runs, by = { "label" }, metrics = { "knn.top1_k20" } }
LUA

t0=$SECONDS
"$SWAVBENCH" run sweep.lua --db single/r.sqlite --threads 1 > single.log 2>&1 || { cat single.log; fail "one-process sweep failed"; }
t_single=$((SECONDS - t0))
grep '^|' single.log > single_table.md
[ "$(wc -l < single_table.md)" = 8 ] || { cat single.log; fail "expected a table of 6 runs"; }

expect_exit 0 "$SWAVBENCH" run sweep.lua --db plan.sqlite --shard 2/3 --dry-run
expect_in "$OUT" "shard 2/3 (--shard)"
expect_in "$OUT" "is shard 1/3's run"
expect_in "$OUT" "-> train"

t0=$SECONDS
for i in 1 2 3; do
  "$SWAVBENCH" run sweep.lua --db "shard$i/r.sqlite" --shard "$i/3" --threads 1 > "shard$i.log" 2>&1 &
  pids[$i]=$!
done
for i in 1 2 3; do wait "${pids[$i]}" || { cat "shard$i.log"; fail "shard $i failed"; }; done
t_shards=$((SECONDS - t0))
echo "one process: ${t_single} s; 3 shards at once on $(nproc) cores: ${t_shards} s"
expect_in "$(cat shard1.log)" "not rendered by shard 1/3"
expect_in "$(cat shard1.log)" "left to the other shards"

# Every run in exactly one shard: 6 distinct runs, 2 per shard, none twice.
for i in 1 2 3; do sqlite3 "shard$i/r.sqlite" "select hash from runs where status = 'done'"; done | sort > shard_hashes
sqlite3 single/r.sqlite "select hash from runs where status = 'done'" | sort > single_hashes
cmp shard_hashes single_hashes || fail "the shards' runs are not the one-process runs, once each"
for i in 1 2 3; do
  [ "$(sqlite3 "shard$i/r.sqlite" "select count(*) from runs")" = 2 ] || fail "shard $i has $(sqlite3 "shard$i/r.sqlite" "select count(*) from runs") runs, expected 2"
done

expect_exit 0 "$SWAVBENCH" db merge merged/r.sqlite shard1/r.sqlite shard2/r.sqlite shard3/r.sqlite
echo "$OUT"
expect_in "$OUT" "merged/r.sqlite: 6 run(s)"
"$SWAVBENCH" db --db merged/r.sqlite export --csv > first_merge.csv
expect_exit 0 "$SWAVBENCH" db merge merged/r.sqlite shard1/r.sqlite shard2/r.sqlite shard3/r.sqlite
expect_in "$OUT" "runs 0 added, 0 replaced (unfinished here), 2 already here"
expect_in "$OUT" "rows added: 0 epochs, 0 evals, 0 alarms, 0 artifacts, 0 tags, 0 bench"
"$SWAVBENCH" db --db merged/r.sqlite export --csv > second_merge.csv
cmp first_merge.csv second_merge.csv || fail "merging twice changed the database"
[ "$(sqlite3 merged/r.sqlite "select count(*) from evals")" = "$(sqlite3 single/r.sqlite "select count(*) from evals")" ] || fail "eval rows differ"
[ "$(sqlite3 merged/r.sqlite "select count(*) from epochs")" = 6 ] || fail "epoch rows differ"
[ "$(sqlite3 merged/r.sqlite "select count(*) from run_tags where tag = 'sweep'")" = 6 ] || fail "tags lost"

# The script on the merged database trains and evaluates nothing and prints the same table.
"$SWAVBENCH" run sweep.lua --db merged/r.sqlite --threads 1 > merged.log 2>&1 || { cat merged.log; fail "the merged run failed"; }
expect_in "$(cat merged.log)" "0 run(s) trained, 7 reused"
grep '^|' merged.log > merged_table.md
diff single_table.md merged_table.md || fail "the merged sweep's table differs from the one-process table"
cat merged_table.md
# The database-wide table holds the same rows (numbered in start order, not script order).
"$SWAVBENCH" tables --db single/r.sqlite --metrics knn.top1_k20 | grep '^| [a-z]' | sort > single_all
"$SWAVBENCH" tables --db merged/r.sqlite --metrics knn.top1_k20 | grep '^| [a-z]' | sort > merged_all
diff single_all merged_all || fail "swavbench tables differs after the merge"

# A SLURM array task is a shard.
expect_exit 0 env SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_COUNT=3 "$SWAVBENCH" run sweep.lua --db plan.sqlite --dry-run
expect_in "$OUT" "shard 2/3 (SLURM_ARRAY_TASK_ID=5)"
expect_exit 2 "$SWAVBENCH" run sweep.lua --db plan.sqlite --shard 4/3
expect_in "$OUT" "--shard '4/3' must be I/N with 1 <= I <= N"

# Refusals, before anything is written.
cp shard1/r.sqlite old.sqlite
sqlite3 old.sqlite "update meta set value = '1' where key = 'schema_version'"
expect_exit 2 "$SWAVBENCH" db merge merged/r.sqlite old.sqlite
expect_in "$OUT" "old.sqlite has schema version 1, this swavbench writes version"
cp shard2/r.sqlite forged.sqlite
sqlite3 forged.sqlite "update artifacts set sha256 = 'ffffffffffffffffffff' where kind = 'weights' and run_id = (select min(id) from runs)"
expect_exit 2 "$SWAVBENCH" db merge merged/r.sqlite forged.sqlite
expect_in "$OUT" "with different weights"
expect_in "$OUT" "forged.sqlite (run #"
cmp first_merge.csv <("$SWAVBENCH" db --db merged/r.sqlite export --csv) || fail "a refused merge changed the database"
echo "shards: ok"
