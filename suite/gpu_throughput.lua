-- gpu_throughput.lua: SwAV ResNet-50 training throughput at the paper's multi-crop (2x224 +
-- 6x96), bf16 autocast, channels_last, per-GPU batch 64 and 128, on an ImageFolder of real JPEG
-- files (e.g. `swavbench data make-imagefolder`). Two short epochs per batch size: each epoch row
-- records img/s, the data-wait share, peak GPU memory and model GFLOP/s. No evaluation: this
-- suite measures cost, not accuracy. Run by scripts/device/gpu-check.sh.
--
--   swavbench run gpu_throughput.lua --set data_path=/tmp/folder [--set images=2560 --set batches=64,128]
--   (CPU check of the suite itself: --set device=cpu --set precision=fp32 --set large=32
--    --set small=16 --set batches=4 --set images=8 --set workers=1)

-- data_path, device, precision and workers are config keys: `--set` applies them to every run
-- (the preset's are cuda, bf16 and 10 loader threads; data_path has no default).
local images = bench.param("images", 2560)
local large = bench.param("large", 224)
local small = bench.param("small", 96)
local batches = {}
for b in tostring(bench.param("batches", "64,128")):gmatch("%d+") do batches[#batches + 1] = tonumber(b) end

local runs = {}
for _, batch in ipairs(batches) do
  runs[#runs + 1] = bench.pretrain {
    label = string.format("SwAV R50 2x%d+6x%d bs%d", large, small, batch),
    preset = "imagenet_200ep_bs256_queue",
    crops = { { count = 2, size = large, min_scale = 0.14, max_scale = 1.0 },
              { count = 6, size = small, min_scale = 0.05, max_scale = 0.14 } },
    batch_size = batch,
    subset = images,
    epochs = 2,  -- the first epoch includes cuDNN autotuning; the second is the figure
    queue_length = 0,
    knn_every = 0,
  }
end

bench.log(string.format("gpu_throughput: %d run(s); figures in the epochs table", #runs))
