local base = { method = "moco", batch_size = 128 }
for _, lr in ipairs({ 0.1, 0.3 }) do bench.pretrain(bench.merge(base, { base_lr = lr, seed = 1e3 })) end
