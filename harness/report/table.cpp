#include "harness/report/table.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "harness/core/check.h"
#include "harness/core/escape.h"

namespace swavbench {
namespace {

std::string value_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_array() && !v.empty() && v[0].is_object() && v[0].contains("count")) {
    // crops: "2x28+4x14"
    std::string out;
    for (const auto& c : v)
      out += (out.empty() ? "" : "+") +
             fmt::format("{}x{}", c["count"].get<int>(), c["size"].get<int>());
    return out;
  }
  return v.dump();
}

}  // namespace

CellStats cell_stats(const std::vector<double>& values) {
  CellStats s;
  s.n = static_cast<int>(values.size());
  if (s.n == 0) return s;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / s.n;
  if (s.n > 1) {
    double ss = 0;
    for (double v : values) ss += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(ss / (s.n - 1));
  }
  return s;
}

std::string render_table(Store& store, const TableSpec& spec) {
  SB_INPUT_CHECK(spec.format == "md" || spec.format == "csv" || spec.format == "latex",
                 "table format '{}' is not one of md, csv, latex", spec.format);
  std::vector<RunRow> runs;
  if (spec.run_ids.empty()) {
    runs = store.runs(kStatusDone);
  } else {
    for (int64_t id : spec.run_ids) {
      auto row = store.run_by_id(id);
      SB_INPUT_CHECK(row.has_value(), "table: run #{} is not in {}", id, store.path());
      runs.push_back(*row);
    }
  }
  std::vector<std::string> by = spec.by.empty() ? std::vector<std::string>{"label"} : spec.by;
  std::vector<std::string> metrics = spec.metrics;
  if (metrics.empty()) {
    // Every metric any of these runs has, in first-seen order.
    for (const auto& r : runs)
      for (const auto& e : store.evals(r.id)) {
        std::string m = e.protocol + "." + e.metric;
        if (std::find(metrics.begin(), metrics.end(), m) == metrics.end()) metrics.push_back(m);
      }
  }
  for (const auto& m : metrics)
    SB_INPUT_CHECK(m.find('.') != std::string::npos,
                   "table metric '{}' must be 'protocol.metric', e.g. 'knn.top1_k20'", m);

  // Group rows by the values of `by`, keeping first-seen order.
  std::vector<std::vector<std::string>> keys;
  std::map<std::vector<std::string>, std::map<std::string, std::vector<double>>> cells;
  for (const auto& r : runs) {
    nlohmann::json config = nlohmann::json::parse(r.config_json);
    std::vector<std::string> key;
    for (const auto& k : by) {
      if (k == "label")
        key.push_back(r.label.empty() ? r.method : r.label);
      else if (k == "status")
        key.push_back(r.status);
      else {
        SB_INPUT_CHECK(config.contains(k), "table: 'by' names '{}', which is not a config key", k);
        key.push_back(value_text(config[k]));
      }
    }
    if (!cells.count(key)) keys.push_back(key);
    auto& row_cells = cells[key];
    for (const auto& e : store.evals(r.id))
      row_cells[e.protocol + "." + e.metric].push_back(e.value);
  }

  std::vector<std::string> header = by;
  header.insert(header.end(), metrics.begin(), metrics.end());
  std::vector<std::vector<std::string>> rows;
  for (const auto& key : keys) {
    std::vector<std::string> row = key;
    for (const auto& m : metrics) {
      auto it = cells[key].find(m);
      if (it == cells[key].end() || it->second.empty()) {
        row.push_back(spec.format == "latex" ? "--" : "—");
        continue;
      }
      CellStats s = cell_stats(it->second);
      const char* pm = spec.format == "latex" ? " $\\pm$ " : " ± ";
      row.push_back(s.n > 1 ? fmt::format("{:.2f}{}{:.2f} (n={})", s.mean, pm, s.std, s.n)
                            : fmt::format("{:.2f} (n=1)", s.mean));
    }
    rows.push_back(row);
  }

  std::string out;
  if (spec.format == "md") {
    if (!spec.title.empty()) out += "### " + spec.title + "\n\n";
    auto line = [&](const std::vector<std::string>& cols) {
      out += "|";
      for (const auto& c : cols) out += " " + markdown_cell(c) + " |";
      out += "\n";
    };
    line(header);
    out += "|";
    for (size_t i = 0; i < header.size(); ++i) out += (i < by.size() ? "---|" : "---:|");
    out += "\n";
    for (const auto& r : rows) line(r);
    if (rows.empty()) out += "(no completed runs with these metrics)\n";
  } else if (spec.format == "csv") {
    auto line = [&](const std::vector<std::string>& cols) {
      for (size_t i = 0; i < cols.size(); ++i) out += (i ? "," : "") + csv_field(cols[i]);
      out += "\n";
    };
    line(header);
    for (const auto& r : rows) line(r);
  } else {
    out += "\\begin{table}[t]\n\\centering\n";
    if (!spec.title.empty()) out += "\\caption{" + latex_escape(spec.title) + "}\n";
    out += "\\begin{tabular}{" + std::string(by.size(), 'l') + std::string(metrics.size(), 'r') +
           "}\n\\toprule\n";
    auto line = [&](const std::vector<std::string>& cols, bool escape) {
      for (size_t i = 0; i < cols.size(); ++i)
        out += (i ? " & " : "") + (escape ? latex_escape(cols[i]) : cols[i]);
      out += " \\\\\n";
    };
    line(header, true);
    out += "\\midrule\n";
    for (const auto& r : rows) {
      std::vector<std::string> cols(r.begin(), r.begin() + by.size());
      for (auto& c : cols) c = latex_escape(c);
      cols.insert(cols.end(), r.begin() + by.size(), r.end());
      line(cols, false);
    }
    out += "\\bottomrule\n\\end{tabular}\n\\end{table}\n";
  }
  return out;
}

}  // namespace swavbench
