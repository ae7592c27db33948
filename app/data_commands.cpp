#include "app/data_commands.h"

#include <fmt/format.h>

#include <filesystem>

#include "evals/voc_map.h"
#include "harness/core/check.h"
#include "harness/data/sources.h"
#include "harness/data/voc.h"

namespace swavbench {

int run_make_voc(const std::string& out, uint64_t seed, int train_images, int test_images) {
  SB_INPUT_CHECK(!out.empty(), "make-voc: --out is empty");
  make_fashion_voc(out, seed, train_images, test_images);
  const std::vector<std::string> classes = read_voc_classes(out);
  fmt::print("wrote a Fashion-VOC set ({} classes, seed {}) to {}\n", classes.size(), seed, out);
  fmt::print("{:<10} {:>7} {:>8} {:>10}\n", "split", "images", "objects", "difficult");
  for (const char* split : {"train", "val", "trainval", "test"}) {
    VocDataset data(out, split, classes);
    int64_t objects = 0, difficult = 0;
    for (const VocAnnotation& a : data.annotations()) {
      objects += static_cast<int64_t>(a.objects.size());
      for (const VocObject& o : a.objects) difficult += o.difficult ? 1 : 0;
    }
    fmt::print("{:<10} {:>7} {:>8} {:>10}\n", split, data.size(), objects, difficult);
  }
  return 0;
}

int run_voc_eval(const std::string& root, const std::string& split,
                 const std::string& detections_dir, const std::string& format) {
  SB_INPUT_CHECK(format == "md" || format == "json" || format == "csv",
                 "voc-eval: --format must be md, json or csv, got '{}'", format);
  SB_INPUT_CHECK(!root.empty(), "voc-eval: --root is empty");
  SB_INPUT_CHECK(std::filesystem::is_directory(detections_dir),
                 "voc-eval: --detections '{}' is not a folder", detections_dir);
  const std::vector<std::string> classes = read_voc_classes(root);
  VocDataset data(root, split, classes);
  MapResult result =
      voc_map(data.annotations(), classes, read_devkit_detections(detections_dir, split, classes));
  if (format != "md") {
    fmt::print("{}", format_map_data(result, format));
    return 0;
  }
  fmt::print("VOC07 detection AP (IoU 0.5) of {} on {} ({}, {} images)\n\n", detections_dir, root,
             split, data.size());
  fmt::print("{}", format_map_table(result));
  return 0;
}

int run_make_imagefolder(const MakeImageFolderOptions& options) {
  const MakeImageFolderResult result = make_imagefolder(options);
  fmt::print(
      "wrote an ImageFolder ({} classes, {}x{} JPEG, seed {}) to {}: {} train, {} val images, "
      "{:.1f} MB\n",
      options.classes, options.size, options.size, options.seed, options.out, result.train_images,
      result.val_images, static_cast<double>(result.bytes) / 1e6);
  return 0;
}

int run_sample_grid(const SampleGridOptions& o) {
  const auto dataset = open_dataset(o.dataset, o.data_path, o.split, o.load_size);
  const ImageU8 grid = sample_grid(*dataset, o.per_class, o.scale);
  write_png(o.out, grid);
  fmt::print("wrote {} ({}x{} px): {} of {} ({} images, {} classes), {} per class\n", o.out,
             grid.width, grid.height, o.split, o.dataset, dataset->size(), dataset->num_classes(),
             o.per_class);
  return 0;
}

}  // namespace swavbench
