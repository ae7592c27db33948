// Devkit detection results (read_devkit_detections), scored against a fixed ground truth.
#include <filesystem>

#include "evals/voc_map.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swavbench;
  static const std::string dir = [] {
    const std::string d = fuzz::scratch_dir() + "/results";
    std::filesystem::create_directories(d);
    std::ofstream(d + "/comp4_det_test_cat.txt");  // an empty file: no detections
    return d;
  }();
  static const std::vector<VocAnnotation> ground_truth = [] {
    VocAnnotation a;
    a.image_id = "000001";
    a.width = a.height = 100;
    a.depth = 3;
    VocObject dog;
    dog.name = "dog";
    dog.xmin = dog.ymin = 1;
    dog.xmax = dog.ymax = 50;
    a.objects = {dog};
    return std::vector<VocAnnotation>{a};
  }();
  fuzz::write_input("results/comp4_det_test_dog.txt", data, size);
  fuzz::expect_parse_or_error([&] {
    const auto detections = read_devkit_detections(dir, "test", {"dog", "cat"});
    voc_map(ground_truth, {"dog", "cat"}, detections);
  });
  return 0;
}
