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
# Out-of-range values are refused, never narrowed: 2^32 + 64 is not the cached batch-64 run.
printf 'bench.pretrain{ method = "random", label = "control", batch_size = 64 }\n' > b64.lua
expect_exit 0 "$SWAVBENCH" run b64.lua --db "$WORK/range.sqlite"
# Every refused command below must leave this database as the good run left it, row for row.
range_before="$(sqlite3 "$WORK/range.sqlite" .dump)"
printf 'bench.pretrain{ method = "random", label = "control",\n  batch_size = 4294967360 }\n' > big.lua
expect_exit 2 "$SWAVBENCH" run big.lua --db "$WORK/range.sqlite"
expect_in "$OUT" "big.lua:1: config key 'batch_size' must be an integer in [-2147483648, 2147483647], got number 4294967360"
# A value float32 cannot hold is refused when the config resolves (every float key, and in a
# protocol's options too), not 40 s later by the trainer's tensor conversion.
expect_exit 2 "$SWAVBENCH" run b64.lua --db "$WORK/range.sqlite" --set base_lr=1e308
expect_in "$OUT" "config key 'base_lr' is 1e+308, which float32 training arithmetic cannot hold; it must be 0 or a magnitude in [1.1754944e-38, 3.4028235e+38]"
printf 'bench.pretrain{ method = "random", label = "control", batch_size = 64,\n  temperature = 1e-300 }\n' > tiny.lua
expect_exit 2 "$SWAVBENCH" run tiny.lua --db "$WORK/range.sqlite"
expect_in "$OUT" "tiny.lua:1: config key 'temperature' is 1e-300, which float32 training arithmetic cannot hold"
printf 'local run = bench.pretrain{ method = "random", label = "control", batch_size = 64 }\nbench.eval(run, { knn = { temperature = 1e39 } })\n' > eval_big.lua
expect_exit 2 "$SWAVBENCH" run eval_big.lua --db "$WORK/range.sqlite"
expect_in "$OUT" "eval_big.lua:2: option 'temperature' of protocol 'knn' must be a number float32 can hold"
printf 'bench.pretrain{ method = "supervised", base_lr = -0.1 }\n' > neg.lua
expect_exit 2 "$SWAVBENCH" run neg.lua --db "$WORK/range.sqlite"
expect_in "$OUT" "neg.lua:1: config key 'base_lr' must be positive, got -0.1"

# The Lua API's own tables: types and ranges with the line and the key.
printf 'local run = bench.pretrain{ method = "random" }\nbench.table{ runs = { run }, metrics = "knn.top1" }\n' > table.lua
expect_exit 2 "$SWAVBENCH" run table.lua --db "$WORK/api.sqlite"
expect_in "$OUT" "table.lua:2: bench.table key 'metrics' must be a list of strings like {\"knn.top1_k20\"}, got \"knn.top1\""
printf 'local run = bench.pretrain{ method = "random" }\nbench.table{ runs = run }\n' > table_runs.lua
expect_exit 2 "$SWAVBENCH" run table_runs.lua --db "$WORK/api.sqlite"
expect_in "$OUT" "table_runs.lua:2: bench.table key 'runs' must be a list of run handles"
printf 'bench.dataset{ kind = "fashion-voc", train = "many" }\n' > dataset.lua
expect_exit 2 "$SWAVBENCH" run dataset.lua --db "$WORK/range.sqlite"
expect_in "$OUT" "dataset.lua:1: bench.dataset key 'train' must be an integer, got \"many\""
printf 'bench.dataset{ kind = "fashion-voc", train = 100, test = 1e12 }\n' > dataset_big.lua
expect_exit 2 "$SWAVBENCH" run dataset_big.lua --db "$WORK/range.sqlite"
expect_in "$OUT" "dataset_big.lua:1: bench.dataset key 'test' must be in [1, 999899], got 1000000000000"

# The sandbox's memory and time limits: exit 2 at the script's line, nothing recorded.
printf 'local t = {}\nfor i = 1, 1e9 do t[i] = string.rep("x", 100) .. i end\n' > memory.lua
expect_exit 2 "$SWAVBENCH" run memory.lua --db "$WORK/range.sqlite" --lua-memory-mib 32
expect_in "$OUT" "memory.lua:2: memory limit of 32 MiB exceeded"
# Suites spend milliseconds in Lua: by default a runaway loop or pattern is stopped within
# seconds (the default limit, 5 s of Lua time; the watchdog half again later), not minutes.
printf 'local n = 0\nwhile true do end\n' > spin_default.lua
expect_exit 2 "$SWAVBENCH" run spin_default.lua --db "$WORK/range.sqlite"
expect_in "$OUT" "spin_default.lua:2: time limit of 5 s for Lua code exceeded"
printf 'local s = string.rep("a", 40)\nlocal found = s:match(string.rep("a?", 40) .. string.rep("a", 40) .. "b")\n' > pattern_default.lua
expect_exit 2 "$SWAVBENCH" run pattern_default.lua --db "$WORK/range.sqlite"
expect_in "$OUT" "pattern_default.lua:2: the Lua time limit of 5 s was exceeded inside a call that does not return to Lua"
# Every sandbox refusal names the script's line, also those the base library raises.
printf 'local t = setmetatable({}, { __metatable = "locked" })\nbench.log("ok")\nsetmetatable(t, {})\n' > protected.lua
expect_exit 2 "$SWAVBENCH" run protected.lua --db "$WORK/range.sqlite"
expect_in "$OUT" "protected.lua:3: cannot change a protected metatable"
printf '\nsetmetatable(os, nil)\n' > protected_os.lua
expect_exit 2 "$SWAVBENCH" run protected_os.lua --db "$WORK/range.sqlite"
expect_in "$OUT" "protected_os.lua:2: cannot change a protected metatable"
printf 'local n = 0\nwhile true do n = n + 1 end\n' > spin.lua
expect_exit 2 "$SWAVBENCH" run spin.lua --db "$WORK/range.sqlite" --lua-seconds 0.5
expect_in "$OUT" "spin.lua:2: time limit of 0.5 s for Lua code exceeded"
printf 'local s = string.rep("a", 40)\nprint(s:find(string.rep("a?", 40) .. string.rep("a", 40) .. "b"))\n' > pattern.lua
expect_exit 2 "$SWAVBENCH" run pattern.lua --db "$WORK/range.sqlite" --lua-seconds 0.5
expect_in "$OUT" "pattern.lua:2: the Lua time limit of 0.5 s was exceeded inside a call that does not return to Lua"
printf 'setmetatable({}, { __gc = function() while true do end end })\n' > gc.lua
expect_exit 2 "$SWAVBENCH" run gc.lua --db "$WORK/range.sqlite"
expect_in "$OUT" "gc.lua:1: __gc finalizers are not available in the swavbench sandbox"
[ "$(sqlite3 "$WORK/range.sqlite" .dump)" = "$range_before" ] || fail "a refused command changed the database"

# Naming a run: an id or a hash prefix, with what would be right; never CLI11's conversion text.
expect_exit 2 "$SWAVBENCH" db --db "$WORK/range.sqlite" show 'run-1'
expect_in "$OUT" "db show: 'run-1' is neither a run id (a number like 3) nor a hash prefix"
expect_exit 0 "$SWAVBENCH" db --db "$WORK/range.sqlite" show "$(sqlite3 "$WORK/range.sqlite" "select substr(hash, 1, 6) from runs")"
expect_in "$OUT" "run #1"
# Reading a database that is not there creates nothing; a folder is named as one.
expect_exit 2 "$SWAVBENCH" db --db "$WORK/typo.sqlite" runs
expect_in "$OUT" "typo.sqlite does not exist"
[ ! -e "$WORK/typo.sqlite" ] || fail "db runs created a database"
expect_exit 2 "$SWAVBENCH" tables --db "$WORK"
expect_in "$OUT" "is a directory; give the path of a .sqlite file"
# A foreign SQLite file is refused by every command and left byte for byte as it was.
sqlite3 "$WORK/foreign.sqlite" "create table customers(id integer primary key, name text); insert into customers(name) values('ada');"
cp "$WORK/foreign.sqlite" "$WORK/foreign.before"
expect_exit 2 "$SWAVBENCH" run b64.lua --db "$WORK/foreign.sqlite"
expect_in "$OUT" "is a SQLite database but not a swavbench database"
expect_exit 2 "$SWAVBENCH" db --db "$WORK/foreign.sqlite" runs
cmp "$WORK/foreign.sqlite" "$WORK/foreign.before" || fail "a refused foreign database was modified"
# Another program's database with a `meta` table of its own, even one that says
# schema_version 3 (this build's): refused by its tables before anything is written, byte for byte unchanged.
sqlite3 "$WORK/meta.sqlite" "create table meta(key text primary key, value); insert into meta values('schema_version', '3'); create table notes(id integer primary key, body text); insert into notes(body) values('keep me');"
cp "$WORK/meta.sqlite" "$WORK/meta.before"
expect_exit 2 "$SWAVBENCH" run b64.lua --db "$WORK/meta.sqlite"
expect_in "$OUT" "meta.sqlite is a SQLite database but not a swavbench database: its meta table says schema version 3, but it has a table 'notes', which swavbench never creates; no table 'alarms'"
expect_in "$OUT" "; no table 'runs'; refusing to use it"
expect_exit 2 "$SWAVBENCH" db --db "$WORK/meta.sqlite" runs
expect_in "$OUT" "not a swavbench database"
expect_exit 2 "$SWAVBENCH" db merge "$WORK/merged.sqlite" "$WORK/meta.sqlite"
expect_in "$OUT" "not a swavbench database"
cmp "$WORK/meta.sqlite" "$WORK/meta.before" || fail "a refused database with a meta table was modified"
echo "bad_input: ok"
