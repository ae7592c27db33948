// `swavbench data ...`: the VOC-layout data commands (the lead wires them into the CLI).
//
//   swavbench data make-voc --out DIR [--seed N --train N --test N]   -> run_make_voc
//   swavbench data voc-eval --root DIR --split test --detections DIR [--format md|json|csv]
//                                                                      -> run_voc_eval
//   swavbench data make-imagefolder --out DIR [--classes ... --size N] -> run_make_imagefolder
//   swavbench data sample-grid --dataset NAME --out FILE.png [...]     -> run_sample_grid
//
// Both return 0 on success and throw InputError on bad input (exit code 2).
#pragma once

#include <cstdint>
#include <string>

#include "harness/data/make_imagefolder.h"

namespace swavbench {

// Writes the embedded Fashion-MNIST scene set in the VOC2007 layout under `out`
// (make_fashion_voc) and prints, per split, the number of images, objects and difficult objects.
int run_make_voc(const std::string& out, uint64_t seed, int train_images, int test_images);

// Scores the devkit results files <detections_dir>/comp4_det_<split>_<class>.txt of any detector
// against the ground truth of <root>'s `split` with the VOC07 rules, and prints the per-class AP
// table (11-point and area) with the mAP row; "json" / "csv" print format_map_data instead.
int run_voc_eval(const std::string& root, const std::string& split,
                 const std::string& detections_dir, const std::string& format = "md");

// Writes the generated ImageFolder tree (make_imagefolder) and prints its counts and size.
int run_make_imagefolder(const MakeImageFolderOptions& options);

// Writes a PNG contact sheet of a dataset's split (sample_grid: a column per class).
struct SampleGridOptions {
  std::string dataset = "fashion-scenes", data_path, split = "train", out;
  int load_size = 0, per_class = 6, scale = 2;
};
int run_sample_grid(const SampleGridOptions& options);

}  // namespace swavbench
