#include "evals/protocol_specs.h"

namespace swavbench {
namespace {

// The two linear probes take the same options (with their own defaults).
std::map<std::string, OptionRange> linear_probe_ranges() {
  return {{"epochs", {1, true}},       {"lr", {0, false}},          {"batch_size", {1, true}},
          {"weight_decay", {0, true}}, {"train_subset", {0, true}}, {"test_subset", {0, true}},
          {"seed", {0, true}},         {"crop", {0, true}}};
}

// What a protocol's results depend on (ProtocolSpec::code): what the protocols share (this
// folder's other files, harness/eval's feature cache and option merge) and its own files.
std::vector<std::string> protocol_code(std::vector<std::string> own) {
  own.insert(own.begin(), {"evals/", "harness/eval/"});
  return own;
}

}  // namespace

ProtocolSpec knn_protocol_spec() {
  ProtocolSpec p;
  p.name = "knn";
  p.code = protocol_code({"evals/knn.cpp"});
  p.frozen_features = true;
  p.display_name = "kNN";
  p.doc = "weighted kNN on frozen L2-normalised features (cosine, exp(sim/T) votes)";
  p.default_options = {
      {"k", {20, 200}},   {"temperature", 0.07},  {"train_subset", 0},
      {"test_subset", 0}, {"test_split", "test"},  // "val": the validation split, for selection
      {"crop", 0}};  // 0: the dataset's native resolution (eval_transform)
  p.ranges = {{"k", {1, true}},
              {"temperature", {0, false}},
              {"train_subset", {0, true}},
              {"test_subset", {0, true}},
              {"crop", {0, true}}};
  return p;
}

ProtocolSpec linear_fast_protocol_spec() {
  ProtocolSpec p;
  p.name = "linear_fast";
  p.code = protocol_code({"evals/linear_fast.cpp"});
  p.frozen_features = true;
  p.display_name = "linear probe (fast)";
  p.doc = "linear probe on cached frozen features (standardised; Adam); not the paper's protocol";
  p.default_options = {
      {"epochs", 30},        {"lr", 1e-3},        {"batch_size", 256},
      {"weight_decay", 0.0}, {"train_subset", 0}, {"test_subset", 0},
      {"seed", 0},           {"crop", 0},  // 0: the dataset's native resolution (eval_transform)
      {"test_split", "test"}};             // "val": the validation split, for selection
  p.ranges = linear_probe_ranges();
  return p;
}

ProtocolSpec lowshot_protocol_spec() {
  ProtocolSpec p;
  p.name = "lowshot";
  p.code = protocol_code({"evals/lowshot.cpp"});
  p.frozen_features = true;
  p.display_name = "low-shot linear";
  p.doc =
      "logistic regression on frozen standardised features with k labels per class, mean over "
      "label draws; L2 strength chosen on a selection set carved from the training split";
  p.default_options = {{"shots", {10, 100, 0}},  // per class; 0: every label
                       {"draws", 5},
                       {"l2", {1e-4, 1e-3, 1e-2, 1e-1, 1.0}},
                       {"val_images", 1000},  // the selection set, from the training split
                       {"train_subset", 10000},
                       {"test_subset", 0},
                       {"test_split", "test"},  // "val": the validation split, for selection
                       {"seed", 0},
                       {"max_iterations", 200},
                       {"crop", 0}};  // 0: the dataset's native resolution (eval_transform)
  p.ranges = {{"shots", {0, true}},        {"draws", {1, true, 100}},
              {"l2", {0, false}},          {"val_images", {1, true}},
              {"train_subset", {0, true}}, {"test_subset", {0, true}},
              {"seed", {0, true}},         {"max_iterations", {1, true, 100000}},
              {"crop", {0, true}}};
  return p;
}

ProtocolSpec linear_protocol_spec() {
  ProtocolSpec p;
  p.name = "linear";
  p.code = protocol_code({"evals/linear.cpp"});
  p.display_name = "linear evaluation";
  p.doc =
      "the paper's linear evaluation: frozen backbone, Linear(d, classes) trained with SGD on "
      "RandomResizedCrop + flip crops, cosine lr; best and last epoch on the test split";
  p.default_options = {{"epochs", 10},  // the paper: 100 (ImageNet)
                       {"lr", 0.3},         {"batch_size", 256}, {"weight_decay", 1e-6},
                       {"train_subset", 0}, {"test_subset", 0},  {"seed", 0},
                       {"crop", 0}};  // 0: the dataset's native resolution (eval_transform)
  p.ranges = linear_probe_ranges();
  return p;
}

ProtocolSpec semisup_protocol_spec() {
  ProtocolSpec p;
  p.name = "semisup";
  p.code = protocol_code({"evals/semisup.cpp"});
  p.display_name = "semi-supervised fine-tuning";
  p.doc =
      "the paper's semi-supervised evaluation: fine-tune the whole network (a copy) plus a "
      "linear head on a pinned 1% / 10% label subset; top-1 / top-5 of the last and the best "
      "epoch";
  p.default_options = {{"fraction", 0.1},  // the paper: 0.01 or 0.1
                       {"epochs", 20},     // the paper: 20
                       {"lr_trunk", 0.0},  // 0: the paper's value for the fraction
                       {"lr_head", 0.0},   // 0: the paper's value for the fraction
                       {"batch_size", 256},
                       {"test_subset", 0},
                       {"seed", 0},
                       {"subset_dir", ""},  // "": the repository's results/subsets
                       {"crop", 0},         // 0: the dataset's native resolution (eval_transform)
                       // Below 1000 classes, the head lr capped at 0.2 (semisup_learning_rates).
                       {"cap_head_lr", true}};
  p.ranges = {{"fraction", {0, false, 1}}, {"epochs", {1, true}},     {"lr_trunk", {0, true}},
              {"lr_head", {0, true}},      {"batch_size", {2, true}}, {"test_subset", {0, true}},
              {"seed", {0, true}},         {"crop", {0, true}}};
  return p;
}

ProtocolSpec voc07_svm_protocol_spec() {
  ProtocolSpec p;
  p.name = "voc07_svm";
  p.code = protocol_code(
      {"evals/voc07_svm.cpp", "evals/voc_protocols.h", "evals/voc_map.cpp", "evals/voc_map.h"});
  p.display_name = "VOC07 linear SVM";
  p.doc =
      "VOC07 classification: linear SVMs (LIBLINEAR) on frozen L2-normalised features, cost "
      "by cross-validation on trainval, test mAP";
  // image_size: 96 matches the embedded Fashion-VOC scenes (96 x 96, the whole scene); use 224
  // for the real VOC2007 release (the benchmark's resize 224 + centre crop 224).
  p.default_options = {{"root", ""},
                       {"train_split", "trainval"},
                       {"test_split", "test"},
                       {"image_size", 96},
                       {"costs", {0.01, 0.1, 1.0, 10.0}},
                       {"folds", 3},
                       {"positive_weight", 2.0}};
  p.ranges = {{"image_size", {8, true}},
              {"costs", {0, false}},
              {"folds", {2, true}},
              {"positive_weight", {0, false}}};
  return p;
}

ProtocolSpec voc_det_protocol_spec() {
  ProtocolSpec p;
  p.name = "voc_det";
  p.code = protocol_code(
      {"evals/voc_det.cpp", "evals/voc_protocols.h", "evals/voc_map.cpp", "evals/voc_map.h"});
  p.display_name = "VOC07 detection";
  p.doc = "VOC07 detection: CenterNet-style detector fine-tuned from the backbone, devkit AP50";
  // image_size 96 suits the Fashion-VOC scenes; real VOC2007 wants a few hundred pixels.
  p.default_options = {{"root", ""},
                       {"train_split", "trainval"},
                       {"test_split", "test"},
                       {"epochs", 12},
                       {"lr", 1e-3},
                       {"batch_size", 32},
                       {"image_size", 96},
                       {"max_detections", 100},
                       {"score_threshold", 0.01},
                       {"seed", 0},
                       {"detections_dir", ""}};
  p.ranges = {{"epochs", {1, true}},
              {"lr", {0, false}},
              {"batch_size", {1, true}},
              {"image_size", {8, true}},
              {"max_detections", {1, true}},
              {"score_threshold", {0, true, 1}},
              {"seed", {0, true}}};
  return p;
}

std::vector<ProtocolSpec> builtin_protocol_specs() {
  return {knn_protocol_spec(),    linear_fast_protocol_spec(), lowshot_protocol_spec(),
          linear_protocol_spec(), semisup_protocol_spec(),     voc07_svm_protocol_spec(),
          voc_det_protocol_spec()};
}

}  // namespace swavbench
