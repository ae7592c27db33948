// VOC07 detection and classification AP (see voc_map.h for the exact rules).
#include "evals/voc_map.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>

#include "harness/core/check.h"
#include "harness/core/escape.h"
#include "harness/core/text.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// AP from per-rank outcomes (+1 TP, -1 FP, 0 ignored) already in descending score order.
// Ignored ranks are dropped: in the devkit they repeat the previous (recall, precision) point
// (or give 0/0 = NaN before the first counted rank, which MATLAB's max skips), so neither rule
// sees them.
void curve_ap(const std::vector<int>& outcomes, int positives, double* ap_11point,
              double* ap_area) {
  if (positives == 0) {
    *ap_11point = *ap_area = kNaN;
    return;
  }
  std::vector<double> recall, precision;
  int tp = 0, fp = 0;
  for (const int outcome : outcomes) {
    if (outcome == 0) continue;
    (outcome > 0 ? tp : fp) += 1;
    recall.push_back(static_cast<double>(tp) / positives);
    precision.push_back(static_cast<double>(tp) / (tp + fp));
  }

  // VOC2007: for t = 0:0.1:1, p = max(prec(rec >= t)), 0 when empty; ap = sum(p) / 11.
  double sum = 0;
  for (int k = 0; k <= 10; ++k) {
    const double t = k / 10.0;
    double best = 0;
    for (size_t i = 0; i < recall.size(); ++i) {
      if (recall[i] >= t) best = std::max(best, precision[i]);
    }
    sum += best;
  }
  *ap_11point = sum / 11.0;

  // VOC2010+ (VOCap.m): mrec = [0; rec; 1], mpre = [0; prec; 0]; mpre made non-increasing from
  // the right; ap = sum over recall changes of (mrec(i) - mrec(i-1)) * mpre(i).
  std::vector<double> mrec = {0.0}, mpre = {0.0};
  mrec.insert(mrec.end(), recall.begin(), recall.end());
  mpre.insert(mpre.end(), precision.begin(), precision.end());
  mrec.push_back(1.0);
  mpre.push_back(0.0);
  for (size_t i = mpre.size() - 1; i-- > 0;) mpre[i] = std::max(mpre[i], mpre[i + 1]);
  double area = 0;
  for (size_t i = 1; i < mrec.size(); ++i) {
    if (mrec[i] != mrec[i - 1]) area += (mrec[i] - mrec[i - 1]) * mpre[i];
  }
  *ap_area = area;
}

std::string results_path(const std::string& dir, const std::string& split,
                         const std::string& class_name) {
  return (fs::path(dir) / fmt::format("comp4_det_{}_{}.txt", split, class_name)).string();
}

bool parse_double(const std::string& text, double* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *value = std::strtod(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size() && std::isfinite(*value);
}

// The devkit stops when a class's results file is missing; reading that as "no detections"
// would report AP 0 for a wrong --split, a wrong folder or a misspelt class name. The message
// says which files are missing and what the folder holds instead.
void check_every_class_has_a_file(const std::string& dir, const std::string& split,
                                  const std::vector<std::string>& classes) {
  std::error_code ec;
  std::vector<std::string> missing;
  for (const std::string& name : classes)
    if (!fs::exists(results_path(dir, split, name), ec)) missing.push_back(name);
  if (missing.empty()) return;
  // What is there: comp4_det_<split>_<class>.txt names, split at the last '_' (class names
  // have none; split names may).
  std::set<std::string> other_splits;
  std::vector<std::string> unknown_classes;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    const std::string prefix = "comp4_det_", suffix = ".txt";
    if (file.size() <= prefix.size() + suffix.size() || file.rfind(prefix, 0) != 0 ||
        file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string stem =
        file.substr(prefix.size(), file.size() - prefix.size() - suffix.size());
    const size_t cut = stem.rfind('_');
    if (cut == std::string::npos) continue;
    const std::string file_split = stem.substr(0, cut), file_class = stem.substr(cut + 1);
    if (file_split != split) {
      other_splits.insert(file_split);
    } else if (std::find(classes.begin(), classes.end(), file_class) == classes.end()) {
      unknown_classes.push_back(file_class);
    }
  }
  std::string hints;
  if (missing.size() == classes.size() && !other_splits.empty()) {
    hints += fmt::format("; the folder has results for split {} (is --split {} right?)",
                         fmt::join(other_splits, ", "), split);
  }
  for (const std::string& name : unknown_classes) {
    const std::string close = closest_match(name, missing);
    hints +=
        close.empty()
            ? fmt::format("; comp4_det_{}_{}.txt is not a class of this dataset", split, name)
            : fmt::format("; comp4_det_{}_{}.txt: did you mean class '{}'?", split, name, close);
  }
  throw InputError(fmt::format(
      "{}: {} of {} classes have no results file ({}: expected {}){}. The devkit needs one file "
      "per class, empty for a class without detections",
      dir, missing.size(), classes.size(), fmt::join(missing, ", "),
      fs::path(results_path(dir, split, missing.front())).filename().string(), hints));
}

std::string percent(double ap) {
  return std::isnan(ap) ? "n/a" : fmt::format("{:.2f}", 100.0 * ap);
}

}  // namespace

ApResult voc_ap_for_class(const std::vector<VocAnnotation>& ground_truth,
                          const std::string& class_name, std::vector<Detection> detections,
                          double iou_threshold) {
  // Per image: this class's boxes, their difficult flags and whether each was detected yet.
  struct ImageGt {
    std::vector<const VocObject*> boxes;
    std::vector<bool> detected;
  };
  std::unordered_map<std::string, ImageGt> by_image;
  by_image.reserve(ground_truth.size());
  ApResult result;
  for (const VocAnnotation& annotation : ground_truth) {
    auto [it, inserted] = by_image.try_emplace(annotation.image_id);
    SB_INPUT_CHECK(inserted, "VOC ground truth: image '{}' appears twice", annotation.image_id);
    for (const VocObject& box : annotation.objects) {
      if (box.name != class_name) continue;
      it->second.boxes.push_back(&box);
      if (!box.difficult) ++result.positives;
    }
    it->second.detected.assign(it->second.boxes.size(), false);
  }

  std::stable_sort(detections.begin(), detections.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  result.detections = static_cast<int>(detections.size());
  std::vector<int> outcomes(detections.size(), -1);
  for (size_t d = 0; d < detections.size(); ++d) {
    const Detection& det = detections[d];
    const auto found = by_image.find(det.image_id);
    SB_INPUT_CHECK(found != by_image.end(),
                   "VOC detections for class '{}': image '{}' is not in the ground truth set",
                   class_name, det.image_id);
    ImageGt& image = found->second;
    double best_iou = -std::numeric_limits<double>::infinity();
    int best = -1;
    for (size_t j = 0; j < image.boxes.size(); ++j) {
      const VocObject& gt = *image.boxes[j];
      const double ix0 = std::max(det.xmin, gt.xmin);
      const double iy0 = std::max(det.ymin, gt.ymin);
      const double ix1 = std::min(det.xmax, gt.xmax);
      const double iy1 = std::min(det.ymax, gt.ymax);
      // VOCevaldet.m's arithmetic, operation for operation in double (the order decides which
      // side of 0.5 a boundary case lands on): iw, ih; ua = det area + gt area - iw * ih.
      const double iw = ix1 - ix0 + 1, ih = iy1 - iy0 + 1;
      if (iw <= 0 || ih <= 0) continue;
      const double uni = (det.xmax - det.xmin + 1) * (det.ymax - det.ymin + 1) +
                         (gt.xmax - gt.xmin + 1) * (gt.ymax - gt.ymin + 1) - iw * ih;
      const double iou = iw * ih / uni;
      if (iou > best_iou) {
        best_iou = iou;
        best = static_cast<int>(j);
      }
    }
    if (best >= 0 && best_iou >= iou_threshold) {
      if (image.boxes[best]->difficult) {
        outcomes[d] = 0;
        ++result.ignored;
      } else if (!image.detected[best]) {
        outcomes[d] = 1;
        image.detected[best] = true;
        ++result.true_positives;
      }  // else a duplicate: stays FP
    }
  }
  curve_ap(outcomes, result.positives, &result.ap_11point, &result.ap_area);
  return result;
}

MapResult voc_map(const std::vector<VocAnnotation>& gt, const std::vector<std::string>& classes,
                  const std::map<std::string, std::vector<Detection>>& detections_by_class,
                  double iou_threshold) {
  for (const auto& entry : detections_by_class) {
    SB_INPUT_CHECK(std::find(classes.begin(), classes.end(), entry.first) != classes.end(),
                   "VOC detections for unknown class '{}' (classes: {})", entry.first,
                   fmt::join(classes, ", "));
  }
  MapResult result;
  double sum_11 = 0, sum_area = 0;
  int counted = 0;
  for (const std::string& name : classes) {
    const auto it = detections_by_class.find(name);
    ApResult ap = voc_ap_for_class(
        gt, name, it == detections_by_class.end() ? std::vector<Detection>{} : it->second,
        iou_threshold);
    if (ap.positives == 0) {
      result.skipped_classes.push_back(name);
    } else {
      sum_11 += ap.ap_11point;
      sum_area += ap.ap_area;
      ++counted;
    }
    result.per_class.emplace_back(name, ap);
  }
  result.map_11point = counted > 0 ? sum_11 / counted : kNaN;
  result.map_area = counted > 0 ? sum_area / counted : kNaN;
  return result;
}

std::map<std::string, std::vector<Detection>> read_devkit_detections(
    const std::string& dir, const std::string& split, const std::vector<std::string>& classes) {
  std::error_code ec;
  SB_INPUT_CHECK(fs::is_directory(dir, ec),
                 "{}: detection results directory not found (expected comp4_det_{}_<class>.txt "
                 "files in it)",
                 dir, split);
  check_every_class_has_a_file(dir, split, classes);
  std::map<std::string, std::vector<Detection>> result;
  for (const std::string& name : classes) {
    std::vector<Detection>& out = result[name];
    const std::string path = results_path(dir, split, name);
    SB_INPUT_CHECK(!fs::is_directory(path, ec), "{}: is a directory, not a results file", path);
    std::ifstream in(path);
    SB_INPUT_CHECK(in.is_open(), "{}: cannot open: {}", path, std::strerror(errno));
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      std::istringstream fields(line);
      std::vector<std::string> tokens;
      std::string token;
      while (fields >> token) tokens.push_back(token);
      if (tokens.empty()) continue;
      SB_INPUT_CHECK(tokens.size() == 6,
                     "{}:{}: expected 'image_id score xmin ymin xmax ymax', got '{}'", path, number,
                     line);
      Detection det;
      det.image_id = tokens[0];
      double* const values[] = {&det.score, &det.xmin, &det.ymin, &det.xmax, &det.ymax};
      const char* const names[] = {"score", "xmin", "ymin", "xmax", "ymax"};
      for (int k = 0; k < 5; ++k) {
        SB_INPUT_CHECK(parse_double(tokens[k + 1], values[k]),
                       "{}:{}: {} '{}' is not a finite number", path, number, names[k],
                       tokens[k + 1]);
      }
      out.push_back(std::move(det));
    }
    SB_INPUT_CHECK(!in.bad(), "{}: read failed: {}", path, std::strerror(errno));
  }
  return result;
}

void write_devkit_detections(
    const std::string& dir, const std::string& split,
    const std::map<std::string, std::vector<Detection>>& detections_by_class) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  SB_INPUT_CHECK(!ec, "{}: cannot create directory: {}", dir, ec.message());
  for (const auto& [name, detections] : detections_by_class) {
    const std::string path = results_path(dir, split, name);
    std::string text;
    for (const Detection& det : detections) {
      text += fmt::format("{} {} {} {} {} {}\n", det.image_id, det.score, det.xmin, det.ymin,
                          det.xmax, det.ymax);
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    SB_INPUT_CHECK(out.is_open(), "{}: cannot write: {}", path, std::strerror(errno));
    out << text;
    out.close();
    SB_INPUT_CHECK(out.good(), "{}: write failed: {}", path, std::strerror(errno));
  }
}

std::string format_map_table(const MapResult& result) {
  std::string text =
      "| class | positives | detections | AP 11-point (%) | AP area (%) |\n"
      "|---|---:|---:|---:|---:|\n";
  for (const auto& [name, ap] : result.per_class) {
    text += fmt::format("| {} | {} | {} | {} | {} |\n", name, ap.positives, ap.detections,
                        percent(ap.ap_11point), percent(ap.ap_area));
  }
  text += fmt::format("| **mAP** | | | **{}** | **{}** |\n", percent(result.map_11point),
                      percent(result.map_area));
  if (!result.skipped_classes.empty()) {
    text += fmt::format("\nNo positives (AP undefined, left out of the mAP): {}.\n",
                        fmt::join(result.skipped_classes, ", "));
  }
  return text;
}

std::string format_map_data(const MapResult& result, const std::string& format) {
  SB_INPUT_CHECK(format == "json" || format == "csv",
                 "voc-eval: --format must be md, json or csv, got '{}'", format);
  auto number = [](double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); };
  if (format == "json") {
    nlohmann::json out = {{"iou_threshold", 0.5},
                          {"map_11point", number(result.map_11point)},
                          {"map_area", number(result.map_area)},
                          {"skipped_classes", result.skipped_classes},
                          {"per_class", nlohmann::json::array()}};
    for (const auto& [name, ap] : result.per_class) {
      out["per_class"].push_back({{"class", name},
                                  {"positives", ap.positives},
                                  {"detections", ap.detections},
                                  {"true_positives", ap.true_positives},
                                  {"ignored", ap.ignored},
                                  {"ap_11point", number(ap.ap_11point)},
                                  {"ap_area", number(ap.ap_area)}});
    }
    return out.dump(2) + "\n";
  }
  // Shortest round-trip text: reading a field back gives the same double.
  auto field = [](double v) { return std::isnan(v) ? std::string() : fmt::format("{}", v); };
  std::string text = "class,positives,detections,true_positives,ignored,ap_11point,ap_area\n";
  for (const auto& [name, ap] : result.per_class) {
    text += fmt::format("{},{},{},{},{},{},{}\n", csv_field(name), ap.positives, ap.detections,
                        ap.true_positives, ap.ignored, field(ap.ap_11point), field(ap.ap_area));
  }
  text += fmt::format("mAP,,,,,{},{}\n", field(result.map_11point), field(result.map_area));
  return text;
}

double voc07_classification_ap(const std::vector<float>& scores, const std::vector<int>& labels,
                               bool eleven_point) {
  SB_INPUT_CHECK(scores.size() == labels.size(), "VOC classification AP: {} scores but {} labels",
                 scores.size(), labels.size());
  std::vector<size_t> order(scores.size());
  int positives = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    SB_INPUT_CHECK(labels[i] == 1 || labels[i] == -1 || labels[i] == 0,
                   "VOC classification AP: label {} at index {} (expected 1, -1 or 0)", labels[i],
                   i);
    order[i] = i;
    if (labels[i] == 1) ++positives;
  }
  // VOCevalcls: [~, si] = sort(-confidence), stable, so ties keep input order.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<int> outcomes(order.size());
  for (size_t r = 0; r < order.size(); ++r) outcomes[r] = labels[order[r]];
  double ap_11point = 0, ap_area = 0;
  curve_ap(outcomes, positives, &ap_11point, &ap_area);
  return eleven_point ? ap_11point : ap_area;
}

}  // namespace swavbench
