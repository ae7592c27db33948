-- ci.lua: the workload of `swavbench regress` (the CI regression guard). SwAV, SimCLR, MoCo v2
-- and the supervised reference, one epoch each on a small class-balanced Fashion-MNIST subset,
-- scored by kNN and the fast linear probe on small test subsets. Everything is seeded, so on the
-- same CPU and thread count two invocations give identical losses and accuracies; about 30 s on
-- 2 cores.
--
--   swavbench regress --baseline results/baseline.json            -- compare
--   swavbench regress --baseline results/baseline.json --update   -- record a new baseline
--   swavbench run ci.lua                                          -- just the runs
--
-- The run labels name the metrics of the baseline ("swav/knn.top1_k20", "moco/loss", ...), so
-- renaming a label or a protocol here means recording a new baseline.

local train_images = bench.param("train_images", 1536)

local common = {
  dataset = "fashion-mnist",
  arch = "resnet10", width = 0.25, small_stem = true,
  subset = train_images,
  epochs = 1, batch_size = 256, seed = 0,
  -- One epoch is 6 iterations: learn the prototypes after the first 2, not after 100.
  freeze_prototypes_iters = 2,
  knn_every = 0,  -- the evals below are what this suite reports
}

local evals = {
  knn = { k = { 20 }, train_subset = 2000, test_subset = 1000 },
  linear_fast = { epochs = 10, train_subset = 2000, test_subset = 1000 },
}

local configs = {
  { label = "swav", method = "swav" },
  { label = "simclr", method = "simclr" },
  { label = "moco", method = "moco", moco_queue = 1024 },
  { label = "supervised", method = "supervised", base_lr = 0.4, augment = "light",
    crops = { { count = 1, size = 28, min_scale = 0.8, max_scale = 1.0 } } },
}

local runs = {}
for _, c in ipairs(configs) do
  local run = bench.pretrain(bench.merge(common, c))
  bench.eval(run, evals)
  runs[#runs + 1] = run
end

bench.table {
  title = "ci: one epoch of each method (regression guard, not a result)",
  runs = runs,
  by = { "label" },
  metrics = { "knn.top1_k20", "linear_fast.top1_last", "linear_fast.top1_best" },
}
