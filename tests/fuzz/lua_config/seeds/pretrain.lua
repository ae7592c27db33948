local run = bench.pretrain{ method = "swav", epochs = 2, crops = { { count = 2, size = 28, min_scale = 0.14, max_scale = 1.0 } }, tags = { "crops" } }
bench.eval(run, { knn = { k = { 20 } } })
