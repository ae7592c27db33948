#include "harness/train/control_specs.h"

namespace swavbench {

MethodSpec supervised_method_spec() {
  // The supervised reference: one light crop, per-GPU BatchNorm, as a classifier is trained.
  MethodSpec supervised;
  supervised.name = "supervised";
  supervised.display_name = "supervised";
  supervised.paper_name = "supervised";
  supervised.table_order = 3;
  supervised.defaults = {
      {"crops", nlohmann::json::array(
                    {{{"count", 1}, {"size", 28}, {"min_scale", 0.3}, {"max_scale", 1.0}}})},
      {"augment", "light"},
      {"sync_bn", false}};
  return supervised;
}

MethodSpec random_method_spec() {
  // The untrained control: the backbone at its initialisation, never stepped.
  MethodSpec random;
  random.name = "random";
  random.display_name = "random init";
  random.table_order = 4;
  random.trains = false;
  random.defaults = {{"epochs", 0}, {"sync_bn", false}};
  return random;
}

MethodSpec pixels_method_spec() {
  // The raw-pixel control: no network, the features are the pixels. On aligned, centred data
  // random convolutional features and even raw pixels are strong (raw-pixel kNN on
  // Fashion-MNIST is about 85 %): a learned representation has to beat this too.
  MethodSpec pixels;
  pixels.name = "pixels";
  pixels.display_name = "raw pixels";
  pixels.table_order = 5;
  pixels.trains = false;
  pixels.pixel_features = true;
  pixels.defaults = {{"epochs", 0}, {"sync_bn", false}};
  return pixels;
}

}  // namespace swavbench
