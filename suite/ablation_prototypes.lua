-- ablation_prototypes.lua: SwAV across prototype counts K (the paper: 3k to 100k changes top-1
-- by at most 0.3 on ImageNet), plus learned vs fixed random prototypes (the paper: 73.9 vs
-- 73.1), scaled to the dataset.
--
--   swavbench run ablation_prototypes.lua                 -- profile quick
--   swavbench run ablation_prototypes.lua --set profile=full
--   swavbench run ablation_prototypes.lua --set seeds=1 --set epochs=1 --set subset=512
--   (CI size; the tests also pass --set eval_train_images=2000 --set eval_test_images=500)
--
-- eval_train_images / eval_test_images: the balanced Fashion-MNIST subsets the quick profile
-- scores every run on (kNN bank and linear probe training set / test set; the same images for
-- every row). Smaller is faster and noisier.

local profile = bench.param("profile", "quick")
local seeds = bench.param("seeds", 3)
local eval_train = bench.param("eval_train_images", 10000)
local eval_test = bench.param("eval_test_images", 2000)

local profiles = {
  quick = { common = { subset = 4096, epochs = 2, freeze_prototypes_epochs = 0.5, knn_every = 0 },
            counts = { 10, 30, 100, 300, 1000, 3000 },
            evals = { knn = { k = { 20, 200 }, train_subset = eval_train, test_subset = eval_test },
                      linear_fast = { train_subset = eval_train, test_subset = eval_test } } },
  full = { common = { subset = 0, epochs = 20, freeze_prototypes_epochs = 1 },
           counts = { 10, 30, 100, 300, 1000, 3000 },
           evals = { knn = { k = { 20, 200 } }, linear_fast = {} } },
  imagenet = { common = { preset = "imagenet_800ep_bs4096", epochs = 400 },
               counts = { 3000, 10000, 30000, 100000 },
               evals = { knn = { k = { 20, 200 } }, linear_fast = {} } },
}
local p = profiles[profile]
if not p then error("unknown profile '" .. tostring(profile) .. "' (quick, full or imagenet)") end

local runs = {}
for seed = 0, seeds - 1 do
  for _, k in ipairs(p.counts) do
    local run = bench.pretrain(bench.merge(p.common, {
      method = "swav", seed = seed, prototypes = k, label = "learned",
      tags = { "prototypes" } }))
    bench.eval(run, p.evals)
    runs[#runs + 1] = run
  end
  -- Fixed random prototypes at the default K.
  local fixed = bench.pretrain(bench.merge(p.common, {
    method = "swav", seed = seed, freeze_prototypes = true, label = "fixed random",
    tags = { "prototypes" } }))
  bench.eval(fixed, p.evals)
  runs[#runs + 1] = fixed
end

bench.table {
  title = "Prototype ablation (" .. profile .. "): SwAV top-1 %, mean ± std over seeds",
  runs = runs,
  by = { "label", "prototypes" },
  metrics = { "knn.top1_k20", "knn.top1_k200", "linear_fast.top1_last", "linear_fast.top1_best" },
}
