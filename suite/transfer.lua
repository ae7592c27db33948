-- transfer.lua: SwAV vs supervised vs the random-init control through every evaluation
-- protocol, on the embedded default (the paper's Tables 2 and 3, scaled to Fashion-MNIST):
-- the paper's linear evaluation, kNN, semi-supervised fine-tuning on 1% and 10% of the labels
-- (pinned subsets under results/subsets/), VOC07 linear SVMs and VOC07 detection on
-- Fashion-MNIST scenes written in the genuine VOC2007 layout.
--
--   swavbench run transfer.lua                     -- profile quick (~10 min on 2 cores)
--   swavbench run transfer.lua --set profile=full
--   swavbench run transfer.lua --set voc_root=/data/VOCdevkit/VOC2007   (real VOC2007; set
--       image_size accordingly, e.g. --set voc_image_size=224, with an ImageNet backbone)

local profile = bench.param("profile", "quick")
local seeds = bench.param("seeds", 1)
local voc_root = bench.param("voc_root", "")
local voc_image_size = bench.param("voc_image_size", 96)

local profiles = {
  quick = { pretrain = { subset = 10000, epochs = 3 }, voc = { train = 600, test = 200 },
            linear_epochs = 3, semisup_epochs = 5, det_epochs = 8, eval_train = 10000,
            eval_test = 2000 },
  -- What CI runs: every protocol end to end at a size that proves the plumbing, not the numbers.
  ci = { pretrain = { subset = 512, epochs = 1 }, voc = { train = 40, test = 20 },
         linear_epochs = 1, semisup_epochs = 1, det_epochs = 1, eval_train = 1000,
         eval_test = 500 },
  full = { pretrain = { subset = 0, epochs = 20 }, voc = { train = 2000, test = 1000 },
           linear_epochs = 20, semisup_epochs = 20, det_epochs = 24, eval_train = 0,
           eval_test = 0 },
}
local p = profiles[profile]
if not p then error("unknown profile '" .. tostring(profile) .. "' (quick, full or ci)") end

if voc_root == "" then
  voc_root = bench.dataset { kind = "fashion-voc", train = p.voc.train, test = p.voc.test }
end

local evals = {
  linear = { epochs = p.linear_epochs, train_subset = p.eval_train, test_subset = p.eval_test },
  knn = { k = { 20, 200 }, train_subset = p.eval_train, test_subset = p.eval_test },
  ["semisup@1pct"] = { fraction = 0.01, epochs = p.semisup_epochs, test_subset = p.eval_test },
  ["semisup@10pct"] = { fraction = 0.1, epochs = p.semisup_epochs, test_subset = p.eval_test },
  voc07_svm = { root = voc_root, image_size = voc_image_size },
  voc_det = { root = voc_root, image_size = voc_image_size, epochs = p.det_epochs },
}

local runs = {}
for seed = 0, seeds - 1 do
  local common = bench.merge(p.pretrain, { seed = seed, knn_every = 0 })
  local swav = bench.pretrain(bench.merge(common, { method = "swav", label = "SwAV" }))
  local supervised = bench.pretrain(bench.merge(common, {
    method = "supervised", label = "supervised", base_lr = 0.4, final_lr = 0.0004 }))
  local control = bench.pretrain(bench.merge(common, { method = "random", label = "random init" }))
  for _, run in ipairs({ swav, supervised, control }) do
    bench.eval(run, evals)
    runs[#runs + 1] = run
  end
end

bench.table {
  title = "Transfer (" .. profile .. "): Fashion-MNIST top-1 % and Fashion-VOC07 mAP",
  runs = runs,
  by = { "label" },
  -- semisup: the best epoch's top-1, the authors' eval_semisup.py rule
  metrics = { "linear.top1_best", "knn.top1_k20", "semisup@1pct.top1_best",
              "semisup@10pct.top1_best", "voc07_svm.map", "voc_det.map_11point",
              "voc_det.map_area" },
}
