-- smoke.lua: the platform end to end in about a minute on 2 CPU cores.
-- A supervised ResNet and the untrained (random-init) control on a class-balanced Fashion-MNIST
-- subset, each scored by kNN and by the fast linear probe on frozen features, then one table
-- rendered from the database.
--
--   swavbench run smoke.lua
--   swavbench run smoke.lua --set subset=2000 --set epochs=1   (even quicker)

local subset = bench.param("train_images", 10000)
local seeds = bench.param("seeds", 1)

local common = {
  dataset = "fashion-mnist",
  arch = "resnet10", width = 0.25, small_stem = true,
  subset = subset,
  batch_size = 256,
  knn_every = 0,  -- the final evals below are what this suite reports
}

local evals = {
  knn = { k = {20, 200}, train_subset = subset },
  linear_fast = { epochs = 30, train_subset = subset },
}

local runs = {}
for seed = 0, seeds - 1 do
  local supervised = bench.pretrain(bench.merge(common, {
    label = "supervised", method = "supervised", seed = seed,
    epochs = 3, base_lr = 0.4, final_lr = 0.0004,
    crops = { { count = 1, size = 28, min_scale = 0.8, max_scale = 1.0 } },
    augment = "light",
  }))
  local control = bench.pretrain(bench.merge(common, {
    label = "random init", method = "random", seed = seed,
  }))
  bench.eval(supervised, evals)
  bench.eval(control, evals)
  runs[#runs + 1] = supervised
  runs[#runs + 1] = control
end

bench.table {
  title = "smoke: supervised vs random init (Fashion-MNIST)",
  runs = runs,
  by = { "label" },
  metrics = { "knn.top1_k20", "knn.top1_k200", "linear_fast.top1_last", "linear_fast.top1_best" },
}
