// VOC07 detection AP / mAP and classification AP, exactly as the VOC devkit computes them
// (VOCevaldet.m, VOCevalcls.m, VOCap.m). Torch-free, so the metric can be tested on hand-worked
// cases and run on results files from any detector.
//
// Detection matching (VOCevaldet): detections of one class sorted by descending score (ties keep
// input order, as MATLAB's stable sort); each is matched to the ground-truth box of its image and
// class with the highest IoU, computed in VOC's inclusive pixel convention (a box covers
// xmax - xmin + 1 columns). IoU >= threshold: a difficult box -> ignored (neither TP nor FP); an
// undetected box -> TP, now detected; an already detected box -> FP (duplicate). Otherwise FP.
// Positives = non-difficult ground-truth boxes.
//
// Two APs from the cumulative precision/recall curve:
//   ap_11point  VOC2007: mean over t in {0, 0.1, ..., 1} of the max precision at recall >= t
//               (0 when no point reaches t). The thresholds are k / 10 correctly rounded, so a
//               recall of exactly 3/10 counts at t = 0.3 (numpy's arange(0, 1.1, 0.1), used by
//               some ports, gives 3 * 0.1 > 0.3 and misses it).
//   ap_area     VOC2010+: the precision envelope (max to the right) integrated over recall steps.
//
// A class with no positives has undefined AP: both APs are NaN, and voc_map leaves the class out
// of the mAP and lists it in skipped_classes (the devkit would divide by zero). The mAP of a set
// in which no class has positives is NaN.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "harness/data/voc.h"

namespace swavbench {

// Double, as the devkit reads results files (textread's %f is a MATLAB double): parsed as
// float, scores 1e-10 apart would tie and a box at exactly IoU 0.5 could round to either side.
struct Detection {
  std::string image_id;
  double score = 0;
  double xmin = 0, ymin = 0, xmax = 0, ymax = 0;  // VOC convention: 1-based, inclusive
};

struct ApResult {
  double ap_11point = 0, ap_area = 0;  // NaN when positives == 0
  int positives = 0;                   // non-difficult ground-truth boxes
  int detections = 0;                  // detections given (ignored ones included)
  int true_positives = 0;
  int ignored = 0;  // matched a difficult box
};

// AP of `class_name`. A detection whose image_id is not in `ground_truth` is an InputError (the
// devkit stops on an unrecognised image too): it means results and ground truth do not match.
ApResult voc_ap_for_class(const std::vector<VocAnnotation>& ground_truth,
                          const std::string& class_name, std::vector<Detection> detections,
                          double iou_threshold = 0.5);

struct MapResult {
  std::vector<std::pair<std::string, ApResult>> per_class;  // in `classes` order
  double map_11point = 0, map_area = 0;      // over classes with positives; NaN if none has any
  std::vector<std::string> skipped_classes;  // no positives: AP undefined, not in the mAP
};

// mAP over `classes`; a class absent from `detections_by_class` has no detections (AP 0 when it
// has positives). A key that is not in `classes` is an InputError.
MapResult voc_map(const std::vector<VocAnnotation>& gt, const std::vector<std::string>& classes,
                  const std::map<std::string, std::vector<Detection>>& detections_by_class,
                  double iou_threshold = 0.5);

// Devkit results files: <dir>/comp4_det_<split>_<class>.txt, one line per detection,
// "image_id score xmin ymin xmax ymax", numbers read as double. Every class needs its file (an
// empty file is a class without detections): a missing one is an InputError, as the devkit
// stops on it, that names the missing files and what the folder holds instead (results of
// another split, a misspelt class). A missing directory or a malformed line is an InputError
// naming the path (and file:line).
std::map<std::string, std::vector<Detection>> read_devkit_detections(
    const std::string& dir, const std::string& split, const std::vector<std::string>& classes);

// The inverse: one file per key of `detections_by_class` (created even when empty), numbers in
// their shortest round-trip form so that reading back gives the same floats. Creates `dir`.
void write_devkit_detections(
    const std::string& dir, const std::string& split,
    const std::map<std::string, std::vector<Detection>>& detections_by_class);

// Markdown table: per-class positives, detections, AP by both rules (percent), and the mAP row;
// a note names the classes left out for lack of positives.
std::string format_map_table(const MapResult& result);

// The same result at full precision for programs: "json" (an object with per_class, map_11point,
// map_area, skipped_classes; an undefined AP is null) or "csv" (one row per class and a final
// "mAP" row; an undefined AP is an empty field). APs are fractions in [0, 1], written in their
// shortest round-trip form.
std::string format_map_data(const MapResult& result, const std::string& format);

// Classification AP as VOCevalcls: `labels` in {1, -1, 0}; 0 (difficult) is ignored, neither
// positive nor negative. eleven_point = true gives the VOC2007 rule, false the area rule. NaN when
// there are no positives. Sizes must match and labels be in {1, -1, 0} (InputError otherwise).
double voc07_classification_ap(const std::vector<float>& scores, const std::vector<int>& labels,
                               bool eleven_point = true);

}  // namespace swavbench
