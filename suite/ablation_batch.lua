-- ablation_batch.lua: SwAV across batch sizes with the linear learning-rate scaling rule
-- (lr = base x B / 256), and the feature queue switched on for small batches as the paper does
-- for batch 256 on ImageNet (queue of 3840 from epoch 15), scaled to the dataset.
--
--   swavbench run ablation_batch.lua                      -- profile quick
--   swavbench run ablation_batch.lua --set profile=full
--   swavbench run ablation_batch.lua --set seeds=1 --set epochs=1 --set subset=512
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
  quick = { common = { subset = 4096, epochs = 2, freeze_prototypes_iters = 8, knn_every = 0,
                       queue_start_epoch = 1 },
            batches = { 64, 128, 256, 512 }, queue_below = 256, queue_length = 1024,
            evals = { knn = { k = { 20, 200 }, train_subset = eval_train, test_subset = eval_test },
                      linear_fast = { train_subset = eval_train, test_subset = eval_test } } },
  full = { common = { subset = 0, epochs = 20, freeze_prototypes_iters = 100, queue_start_epoch = 5 },
           batches = { 64, 128, 256, 512 }, queue_below = 256, queue_length = 3840,
           evals = { knn = { k = { 20, 200 } }, linear_fast = {} } },
  imagenet = { common = { preset = "imagenet_200ep_bs256_queue" },
               batches = { 256, 1024, 4096 }, queue_below = 1024, queue_length = 3840,
               evals = { knn = { k = { 20, 200 } }, linear_fast = {} } },
}
local p = profiles[profile]
if not p then error("unknown profile '" .. tostring(profile) .. "' (quick, full or imagenet)") end

local base_lr, final_lr = 0.3, 0.0003
local runs = {}
for seed = 0, seeds - 1 do
  for _, batch in ipairs(p.batches) do
    local scale = batch / 256
    local cfg = bench.merge(p.common, {
      method = "swav", seed = seed, batch_size = batch,
      base_lr = base_lr * scale, final_lr = final_lr * scale,
      queue_length = batch < p.queue_below and p.queue_length or 0,
      label = "batch " .. batch, tags = { "batch" },
    })
    local run = bench.pretrain(cfg)
    bench.eval(run, p.evals)
    runs[#runs + 1] = run
  end
end

bench.table {
  title = "Batch-size ablation (" .. profile .. "): SwAV top-1 %, mean ± std over seeds",
  runs = runs,
  by = { "batch_size", "queue_length" },
  metrics = { "knn.top1_k20", "knn.top1_k200", "linear_fast.top1_last", "linear_fast.top1_best" },
}
