bench.table{ title = "t", by = { "method" }, metrics = { "knn.top1" }, format = "md" }
bench.log(bench.param("profile", "quick"))
