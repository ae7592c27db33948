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

# export: the supervised run's trunk for plain PyTorch, and its sidecar.
expect_exit 0 "$SWAVBENCH" export 1 --db "$DB" --out trunk.pt
expect_in "$OUT" "tensors, torchvision format -> trunk.pt"
expect_in "$OUT" "BasicBlock, [1, 1, 1, 1]"
expect_exit 0 "$SWAVBENCH" export "$(sql "select substr(hash, 1, 8) from runs where id = 1")" --db "$DB" --out full.pth --format full
expect_in "$OUT" "sidecar -> full.json"
/usr/bin/python3 - "$DB" <<'PY' || fail "the exported files do not load as documented"
import json, sqlite3, sys
import torch, torchvision
db = sqlite3.connect(sys.argv[1])
trunk = torch.load("trunk.pt")
# resnet10 is torchvision's ResNet with one BasicBlock per stage: the same names, in order.
reference = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])
names = [k for k in reference.state_dict() if not k.startswith("fc.")]
assert list(trunk) == names, (list(trunk)[:5], names[:5])
assert trunk["conv1.weight"].shape == (16, 1, 3, 3), trunk["conv1.weight"].shape
full = torch.load("full.pth")
assert all(("backbone." + k) in full for k in trunk), "full lacks trunk tensors"
assert any(k.startswith("classifier.") for k in full), sorted(full)[-3:]
assert all(torch.equal(full["backbone." + k], v) for k, v in trunk.items())
side = json.load(open("trunk.json"))
run = db.execute("select id, hash, git_sha, config_json from runs where id = 1").fetchone()
assert side["run"]["id"] == run[0] and side["run"]["hash"] == run[1] and side["run"]["git_sha"] == run[2]
assert side["config"] == json.loads(run[3])
evals = db.execute("select protocol, metric, value from evals where run_id = 1").fetchall()
assert len(evals) > 0 and all(side["evals"][p][m] == v for p, m, v in evals), side["evals"]
assert side["tensors"] == len(trunk) and side["trunk"]["torchvision_compatible"] is False
weights = db.execute("select sha256 from artifacts where run_id = 1 and kind = 'weights'").fetchone()[0]
assert side["weights_sha256"] == weights
print("export: %d trunk tensors, %d in full, %d evals in the sidecar" % (len(trunk), len(full), len(evals)))
PY
expect_exit 2 "$SWAVBENCH" export 99 --db "$DB" --out x.pt
expect_in "$OUT" "run #99 is not in $DB"
expect_exit 2 "$SWAVBENCH" export zzzz --db "$DB" --out x.pt
expect_in "$OUT" "export: 'zzzz' is neither a run id (a number like 3) nor a hash prefix"
expect_exit 2 "$SWAVBENCH" export fedcba9876543210f --db "$DB" --out x.pt
expect_in "$OUT" "no run of $DB has a hash starting with 'fedcba9876543210f'"
echo "smoke_and_cache: ok"
