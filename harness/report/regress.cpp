#include "harness/report/regress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/core/check.h"

namespace swavbench {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kBaselineFormat = 1;

MetricKind kind_from_string(const std::string& text, const std::string& where) {
  if (text == "accuracy") return MetricKind::accuracy;
  if (text == "loss") return MetricKind::loss;
  if (text == "training_stat") return MetricKind::training_stat;
  if (text == "throughput") return MetricKind::throughput;
  throw InputError(fmt::format(
      "{}: unknown metric kind '{}' (accuracy, loss, training_stat or throughput)", where, text));
}

std::string update_hint(const std::string& path) {
  return fmt::format("create it with `swavbench regress --baseline {} --update`", path);
}

double number_at(const json& object, const std::string& key, const std::string& where) {
  SB_INPUT_CHECK(object.contains(key) && object[key].is_number(), "{}: '{}' must be a number",
                 where, key);
  return object[key].get<double>();
}

}  // namespace

std::string to_string(MetricKind kind) {
  switch (kind) {
    case MetricKind::accuracy:
      return "accuracy";
    case MetricKind::loss:
      return "loss";
    case MetricKind::training_stat:
      return "training_stat";
    case MetricKind::throughput:
      return "throughput";
  }
  return "?";
}

std::string to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok:
      return "OK";
    case Verdict::regression:
      return "REGRESSION";
    case Verdict::improved:
      return "IMPROVED";
    case Verdict::added:
      return "NEW";
  }
  return "?";
}

double RegressTolerances::for_kind(MetricKind kind) const {
  switch (kind) {
    case MetricKind::accuracy:
      return accuracy_points;
    case MetricKind::loss:
    case MetricKind::training_stat:
      return loss_relative;
    case MetricKind::throughput:
      return throughput_drop;
  }
  return 0;
}

Baseline parse_baseline(const std::string& text, const std::string& path) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw InputError(
        fmt::format("baseline {} is not valid JSON ({}); {}", path, e.what(), update_hint(path)));
  }
  const std::string where = "baseline " + path;
  try {
    SB_INPUT_CHECK(doc.is_object() && doc.contains("metrics") && doc["metrics"].is_object(),
                   "{} has no 'metrics' object; {}", where, update_hint(path));
    SB_INPUT_CHECK(doc.value("format", 0) == kBaselineFormat,
                   "{}: format {} is not the format this build reads ({}); {}", where,
                   doc.value("format", json()).dump(), kBaselineFormat, update_hint(path));
    Baseline b;
    b.provenance = doc.value("provenance", json::object());
    if (doc.contains("calibration"))
      b.calibration_gflops = number_at(doc["calibration"], "gemm_gflop_per_s", where);
    if (doc.contains("tolerances")) {
      const json& t = doc["tolerances"];
      b.tolerances.accuracy_points = number_at(t, "accuracy_points", where);
      b.tolerances.loss_relative = number_at(t, "loss_relative", where);
      b.tolerances.throughput_drop = number_at(t, "throughput_drop", where);
    }
    for (auto it = doc["metrics"].begin(); it != doc["metrics"].end(); ++it) {
      const std::string mwhere = fmt::format("{}: metric '{}'", where, it.key());
      SB_INPUT_CHECK(it->is_object(), "{} must be an object", mwhere);
      SB_INPUT_CHECK(it->contains("kind") && (*it)["kind"].is_string(), "{} needs a 'kind'",
                     mwhere);
      MetricValue m;
      m.kind = kind_from_string((*it)["kind"].get<std::string>(), mwhere);
      m.value = number_at(*it, "value", mwhere);
      m.tolerance = it->contains("tolerance") ? number_at(*it, "tolerance", mwhere)
                                              : b.tolerances.for_kind(m.kind);
      SB_INPUT_CHECK(m.tolerance >= 0, "{}: tolerance must be >= 0", mwhere);
      m.unit = it->value("unit", "");
      if (it->contains("info") && (*it)["info"].is_object())
        for (auto info = (*it)["info"].begin(); info != (*it)["info"].end(); ++info)
          if (info->is_number()) m.info[info.key()] = info->get<double>();
      b.metrics[it.key()] = std::move(m);
    }
    SB_INPUT_CHECK(!b.metrics.empty(), "{} holds no metrics; {}", where, update_hint(path));
    return b;
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{} is malformed ({}); {}", where, e.what(), update_hint(path)));
  }
}

Baseline read_baseline(const std::string& path) {
  std::error_code ec;
  SB_INPUT_CHECK(fs::is_regular_file(path, ec), "baseline {} not found; {}", path,
                 update_hint(path));
  std::ifstream in(path, std::ios::binary);
  SB_INPUT_CHECK(in.good(), "cannot read baseline {}; {}", path, update_hint(path));
  std::stringstream text;
  text << in.rdbuf();
  return parse_baseline(text.str(), path);
}

std::string baseline_to_json(const Baseline& baseline) {
  json doc;  // nlohmann's default object is a std::map: keys come out sorted
  doc["format"] = kBaselineFormat;
  doc["provenance"] = baseline.provenance;
  doc["calibration"] = {{"gemm_gflop_per_s", baseline.calibration_gflops},
                        {"what",
                         "median float32 1024x1024 matmul rate of the regress process (before "
                         "the script, before and after each run; all intra-op threads)"}};
  doc["tolerances"] = {{"accuracy_points", baseline.tolerances.accuracy_points},
                       {"loss_relative", baseline.tolerances.loss_relative},
                       {"throughput_drop", baseline.tolerances.throughput_drop}};
  json metrics = json::object();
  for (const auto& [name, m] : baseline.metrics) {
    json entry = {{"kind", to_string(m.kind)}, {"value", m.value}, {"tolerance", m.tolerance}};
    if (!m.unit.empty()) entry["unit"] = m.unit;
    if (!m.info.empty()) entry["info"] = m.info;
    metrics[name] = entry;
  }
  doc["metrics"] = metrics;
  return doc.dump(2) + "\n";
}

void write_baseline(const std::string& path, const Baseline& baseline) {
  fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    SB_INPUT_CHECK(out.good(), "cannot write baseline {}", tmp);
    out << baseline_to_json(baseline);
    out.close();
    SB_INPUT_CHECK(out.good(), "cannot write baseline {}", tmp);
  }
  fs::rename(tmp, target);
}

std::vector<ComparisonRow> compare_metrics(const MetricMap& baseline, const MetricMap& current) {
  std::vector<ComparisonRow> rows;
  for (const auto& [name, base] : baseline) {
    ComparisonRow row;
    row.name = name;
    row.kind = base.kind;
    row.baseline = base.value;
    row.tolerance = base.tolerance;
    auto it = current.find(name);
    if (it == current.end()) {
      row.verdict = Verdict::regression;
      row.note = "missing from this run";
      rows.push_back(row);
      continue;
    }
    const double now = it->second.value;
    row.now = now;
    if (it->second.kind != base.kind) {
      row.verdict = Verdict::regression;
      row.note =
          fmt::format("kind changed: {} -> {}", to_string(base.kind), to_string(it->second.kind));
    } else if (!std::isfinite(now)) {
      row.verdict = Verdict::regression;
      row.note = "not a finite number";
    } else if (base.kind == MetricKind::accuracy) {
      const double delta = now - base.value;
      row.verdict = delta < -base.tolerance  ? Verdict::regression
                    : delta > base.tolerance ? Verdict::improved
                                             : Verdict::ok;
    } else if (base.kind == MetricKind::loss || base.kind == MetricKind::training_stat) {
      const double scale = std::abs(base.value) > 1e-12 ? std::abs(base.value) : 1.0;
      const double relative = (now - base.value) / scale;
      if (std::abs(relative) > base.tolerance) {
        row.verdict = Verdict::regression;
        row.note = fmt::format("{} {}: the training computation changed",
                               base.kind == MetricKind::loss ? "loss" : "statistic",
                               relative > 0 ? "rose" : "fell");
      }
    } else {  // throughput: higher is better, faster is never a failure
      if (base.value <= 0) {
        row.verdict = Verdict::ok;
        row.note = "no usable baseline value";
      } else {
        const double ratio = now / base.value;
        row.verdict = ratio < 1.0 - base.tolerance   ? Verdict::regression
                      : ratio > 1.0 + base.tolerance ? Verdict::improved
                                                     : Verdict::ok;
      }
    }
    rows.push_back(row);
  }
  for (const auto& [name, now] : current) {
    if (baseline.count(name)) continue;
    ComparisonRow row;
    row.name = name;
    row.kind = now.kind;
    row.now = now.value;
    row.tolerance = now.tolerance;
    row.verdict = Verdict::added;
    row.note = "not in the baseline (--update records it)";
    rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end(),
            [](const ComparisonRow& a, const ComparisonRow& b) { return a.name < b.name; });
  return rows;
}

bool has_regression(const std::vector<ComparisonRow>& rows) {
  return std::any_of(rows.begin(), rows.end(),
                     [](const ComparisonRow& r) { return r.verdict == Verdict::regression; });
}

std::string format_delta(const ComparisonRow& row) {
  if (!row.baseline || !row.now || !std::isfinite(*row.now)) return "—";
  const double base = *row.baseline, now = *row.now;
  switch (row.kind) {
    case MetricKind::accuracy:
      return fmt::format("{:+.2f} pt", now - base);
    case MetricKind::loss:
    case MetricKind::training_stat: {
      const double scale = std::abs(base) > 1e-12 ? std::abs(base) : 1.0;
      return fmt::format("{:+.2f} %", 100.0 * (now - base) / scale);
    }
    case MetricKind::throughput:
      return base > 0 ? fmt::format("x{:.2f}", now / base) : "—";
  }
  return "—";
}

std::string format_tolerance(MetricKind kind, double tolerance) {
  switch (kind) {
    case MetricKind::accuracy:
      return fmt::format("±{:.2f} pt", tolerance);
    case MetricKind::loss:
    case MetricKind::training_stat:
      return fmt::format("±{:.1f} %", 100.0 * tolerance);
    case MetricKind::throughput:
      return fmt::format(">= x{:.2f}", 1.0 - tolerance);
  }
  return "";
}

namespace {

std::string format_value(MetricKind kind, const std::optional<double>& v) {
  if (!v) return "—";
  if (!std::isfinite(*v)) return fmt::format("{}", *v);
  switch (kind) {
    case MetricKind::accuracy:
      return fmt::format("{:.2f}", *v);
    case MetricKind::loss:
    case MetricKind::training_stat:
      return fmt::format("{:.4f}", *v);
    case MetricKind::throughput:
      return fmt::format("{:.3f}", *v);
  }
  return fmt::format("{}", *v);
}

// Display width in code points (the table holds "±" and "—").
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string pad(const std::string& s, size_t w, bool right) {
  const size_t n = width(s);
  if (n >= w) return s;
  return right ? std::string(w - n, ' ') + s : s + std::string(w - n, ' ');
}

}  // namespace

std::string render_comparison(const std::vector<ComparisonRow>& rows) {
  const std::vector<std::string> header{"metric", "baseline",  "now",
                                        "delta",  "tolerance", "verdict"};
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows) {
    std::string verdict = to_string(r.verdict);
    if (!r.note.empty()) verdict += " (" + r.note + ")";
    cells.push_back({r.name, format_value(r.kind, r.baseline), format_value(r.kind, r.now),
                     format_delta(r), format_tolerance(r.kind, r.tolerance), verdict});
  }
  std::vector<size_t> w(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    w[c] = width(header[c]);
    for (const auto& row : cells) w[c] = std::max(w[c], width(row[c]));
  }
  auto line = [&](const std::vector<std::string>& row) {
    std::string out;
    for (size_t c = 0; c < row.size(); ++c) {
      const bool right = c >= 1 && c <= 3;
      out += c + 1 == row.size() ? row[c] : pad(row[c], w[c], right) + "  ";
    }
    return out + "\n";
  };
  std::string out = line(header);
  std::string rule;
  for (size_t c = 0; c < header.size(); ++c)
    rule += std::string(w[c], '-') + (c + 1 == header.size() ? "" : "  ");
  out += rule + "\n";
  for (const auto& row : cells) out += line(row);
  return out;
}

double cpu_vendor_code(const std::string& vendor_id) {
  if (vendor_id == "GenuineIntel") return 1;
  if (vendor_id == "AuthenticAMD") return 2;
  return 0;
}

std::string drop_rows_of_another_peak(MetricMap& baseline, const MetricMap& current) {
  const auto peak_of = [](const MetricValue& m) {
    auto p = m.info.find("peak_gflop_per_s");
    return p == m.info.end() ? 0.0 : p->second;
  };
  // "AMD family 26 model 2", or "" when the row does not say.
  const auto cpu_of = [](const MetricValue& m) -> std::string {
    const auto v = m.info.find("cpu_vendor"), f = m.info.find("cpu_family"),
               n = m.info.find("cpu_model");
    if (v == m.info.end() || f == m.info.end() || n == m.info.end()) return "";
    const char* vendor = v->second == 1 ? "Intel" : v->second == 2 ? "AMD" : "other vendor";
    return fmt::format("{} family {:g} model {:g}", vendor, f->second, n->second);
  };
  std::string notes;
  for (auto it = baseline.begin(); it != baseline.end();) {
    auto now = current.find(it->first);
    const double base_peak = peak_of(it->second);
    const std::string base_cpu = cpu_of(it->second);
    const std::string now_cpu = now == current.end() ? "" : cpu_of(now->second);
    if (base_peak > 0 && now != current.end() && !base_cpu.empty() && !now_cpu.empty() &&
        base_cpu != now_cpu) {
      notes += fmt::format(
          "note: {} not compared: the baseline was recorded on another CPU ({}; this machine: {}), "
          "and throughput compares on the baseline's machine only\n",
          it->first, base_cpu, now_cpu);
      it = baseline.erase(it);
    } else if (base_peak > 0 && now != current.end() &&
               std::abs(peak_of(now->second) - base_peak) > 0.01 * base_peak) {
      const bool calibrated = it->second.info.count("gemm_gflop_per_s") > 0;
      notes += fmt::format(
          "note: {} not compared: the baseline's fp32 peak is {:.1f} GFLOP/s, this machine's "
          "{:.1f} ({})\n",
          it->first, base_peak, peak_of(now->second),
          calibrated ? "img/s per GEMM GFLOP/s does not carry over to another CPU: its GEMM and "
                       "its convolutions speed up by different factors"
                     : "throughput against the peak compares on the baseline's machine only");
      it = baseline.erase(it);
    } else {
      ++it;
    }
  }
  return notes;
}

}  // namespace swavbench
