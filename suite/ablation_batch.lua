-- ablation_batch.lua: SwAV across batch sizes. On Fashion-MNIST (quick, full) with the linear
-- learning-rate scaling rule (lr = base x B / 256) and the feature queue switched on for small
-- batches as the paper does for batch 256 on ImageNet (queue of 3840 from epoch 15), scaled to
-- the dataset; on ImageNet (imagenet) with the authors' own settings per batch size (below).
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
  quick = { common = { subset = 4096, epochs = 2, freeze_prototypes_epochs = 0.5, knn_every = 0,
                       queue_start_epoch = 1 },
            batches = { 64, 128, 256, 512 }, queue_below = 256, queue_length = 1024,
            evals = { knn = { k = { 20, 200 }, train_subset = eval_train, test_subset = eval_test },
                      linear_fast = { train_subset = eval_train, test_subset = eval_test } } },
  full = { common = { subset = 0, epochs = 20, freeze_prototypes_epochs = 1, queue_start_epoch = 5 },
           batches = { 64, 128, 256, 512 }, queue_below = 256, queue_length = 3840,
           evals = { knn = { k = { 20, 200 } }, linear_fast = {} } },
  -- ImageNet: the authors' own settings per batch size, not one preset scaled linearly. Their
  -- launch scripts give batch 256 (swav_200ep_bs256.sh: lr 0.6, no warm-up, prototypes frozen
  -- for 5005 iterations, queue 3840 from epoch 15) and batch 4096 (swav_800ep_pretrain.sh: lr
  -- 4.8 after 10 warm-up epochs from 0.3, frozen for 313 iterations, no queue); final_lr is
  -- base_lr / 1000 in both. Both freeze the prototypes for about one epoch (1.28M / B
  -- iterations). Batch 1024 has no script of theirs: its lr is interpolated geometrically
  -- between theirs (0.6 x (B / 256)^0.75, which gives 0.6 at 256 and 4.8 at 4096), with the
  -- large-batch warm-up, one epoch of frozen prototypes (1251 iterations) and no queue.
  imagenet = { common = { preset = "imagenet_200ep_bs256_queue" },
               batches = { 256, 1024, 4096 },
               recipes = {
                 [256] = { base_lr = 0.6, final_lr = 0.0006, warmup_epochs = 0, start_warmup = 0.0,
                           freeze_prototypes_iters = 5005, queue_length = 3840,
                           queue_start_epoch = 15 },
                 [1024] = { base_lr = 1.697, final_lr = 0.001697, warmup_epochs = 10,
                            start_warmup = 0.3, freeze_prototypes_iters = 1251, queue_length = 0 },
                 [4096] = { base_lr = 4.8, final_lr = 0.0048, warmup_epochs = 10,
                            start_warmup = 0.3, freeze_prototypes_iters = 313, queue_length = 0 },
               },
               evals = { knn = { k = { 20, 200 } }, linear_fast = {} } },
}
local p = profiles[profile]
if not p then error("unknown profile '" .. tostring(profile) .. "' (quick, full or imagenet)") end

local base_lr, final_lr = 0.3, 0.0003
local runs = {}
for seed = 0, seeds - 1 do
  for _, batch in ipairs(p.batches) do
    local recipe
    if p.recipes then
      recipe = p.recipes[batch]
    else
      -- Fashion-MNIST profiles: the linear scaling rule from batch 256, the queue below it.
      local scale = batch / 256
      recipe = { base_lr = base_lr * scale, final_lr = final_lr * scale,
                 queue_length = batch < p.queue_below and p.queue_length or 0 }
    end
    local cfg = bench.merge(bench.merge(p.common, recipe), {
      method = "swav", seed = seed, batch_size = batch,
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
