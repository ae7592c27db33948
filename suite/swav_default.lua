-- swav_default.lua: SwAV pretrained on Fashion-MNIST with the default recipe, next to the
-- random-initialisation control, scored by kNN and the fast linear probe on frozen features.
--
--   swavbench run swav_default.lua                     -- profile "quick": 10k images, 3 epochs
--   swavbench run swav_default.lua --set profile=full  -- all 60k images, 5 epochs
--
-- The recipe (harness/core/config.h defaults, the "fmnist_default" preset): ResNet-10 at width
-- 0.25 with a 3x3 stride-1 stem, head 128-256-64, K = 100 prototypes, crops 2x28 (scale 0.3-1)
-- + 4x14 (scale 0.1-0.3), SGD lr 0.3 cosine, batch 256, epsilon 0.05, 3 Sinkhorn iterations,
-- T = 0.1, prototypes frozen for the first epoch (freeze_prototypes_epochs = 1, the authors'
-- one epoch; 39 iterations at the quick profile). kNN top-1 is logged every epoch.

local profile = bench.param("profile", "quick")
local seeds = bench.param("seeds", 1)

local profiles = {
  quick = { subset = 10000, epochs = 3 },
  full = { subset = 0, epochs = 5 },
}
local chosen = profiles[profile]
if not chosen then error("unknown profile '" .. profile .. "' (quick or full)") end

local evals = {
  knn = { k = { 20, 200 } },
  linear_fast = { epochs = 30 },
}

local runs = {}
for seed = 0, seeds - 1 do
  local swav = bench.pretrain { label = "SwAV", method = "swav", preset = "fmnist_default",
                                subset = chosen.subset, epochs = chosen.epochs, seed = seed }
  local control = bench.pretrain { label = "random init", method = "random", seed = seed }
  bench.eval(swav, evals)
  bench.eval(control, evals)
  runs[#runs + 1] = swav
  runs[#runs + 1] = control
end

bench.table {
  title = "SwAV on Fashion-MNIST (" .. profile .. ") vs the random-init control",
  runs = runs,
  by = { "label" },
  metrics = { "knn.top1_k20", "knn.top1_k200", "linear_fast.top1_last", "linear_fast.top1_best" },
}
