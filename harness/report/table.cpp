#include "harness/report/table.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

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

Table build_table(Store& store, const TableSpec& spec) {
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
    // A protocol's "diverged" column only where it has no measured metric to say it in.
    std::set<std::string> measured;
    for (const auto& m : metrics)
      if (m != diverged_key_of(m)) measured.insert(diverged_key_of(m));
    metrics.erase(std::remove_if(metrics.begin(), metrics.end(),
                                 [&](const std::string& m) {
                                   return m == diverged_key_of(m) && measured.count(m);
                                 }),
                  metrics.end());
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

  Table table;
  table.title = spec.title;
  table.header = by;
  table.header.insert(table.header.end(), metrics.begin(), metrics.end());
  table.align = std::string(by.size(), 'l') + std::string(metrics.size(), 'r');
  table.empty_text = "(no completed runs with these metrics)";
  for (const auto& key : keys) {
    std::vector<std::string> row = key;
    for (const auto& m : metrics) {
      // Runs whose protocol diverged measured nothing: counted, never averaged in.
      const std::string diverged_key = diverged_key_of(m);
      auto d = cells[key].find(diverged_key);
      const size_t diverged = d == cells[key].end() ? 0 : d->second.size();
      auto it = cells[key].find(m);
      if (m == diverged_key || it == cells[key].end() || it->second.empty()) {
        row.push_back(diverged ? fmt::format("diverged (n={})", diverged) : "—");
        continue;
      }
      CellStats s = cell_stats(it->second);
      row.push_back((s.n > 1 ? fmt::format("{:.2f} ± {:.2f} (n={})", s.mean, s.std, s.n)
                             : fmt::format("{:.2f} (n=1)", s.mean)) +
                    (diverged ? fmt::format(", {} diverged", diverged) : ""));
    }
    table.rows.push_back(row);
  }
  return table;
}

std::string render_table(Store& store, const TableSpec& spec) {
  return format_table(build_table(store, spec), spec.format);
}

std::string format_table(const Table& table, const std::string& format) {
  SB_INPUT_CHECK(format == "md" || format == "csv" || format == "latex" || format == "html",
                 "table format '{}' is not one of md, csv, latex, html", format);
  std::string align = table.align;
  align.resize(table.header.size(), 'l');
  std::string out;
  if (format == "md") {
    if (!table.title.empty()) out += "### " + markdown_cell(table.title) + "\n\n";
    auto line = [&](const std::vector<std::string>& cols) {
      out += "|";
      for (const auto& c : cols) out += " " + markdown_cell(c) + " |";
      out += "\n";
    };
    line(table.header);
    out += "|";
    for (char a : align) out += a == 'r' ? "---:|" : "---|";
    out += "\n";
    for (const auto& r : table.rows) line(r);
    if (table.rows.empty() && !table.empty_text.empty()) out += table.empty_text + "\n";
    if (!table.notes.empty()) out += "\n";
    for (const auto& n : table.notes) out += "- " + n + "\n";
  } else if (format == "csv") {
    auto line = [&](const std::vector<std::string>& cols) {
      for (size_t i = 0; i < cols.size(); ++i) out += (i ? "," : "") + csv_field(cols[i]);
      out += "\n";
    };
    line(table.header);
    for (const auto& r : table.rows) line(r);
  } else if (format == "latex") {
    out += "\\begin{table}[t]\n\\centering\n";
    if (!table.title.empty()) out += "\\caption{" + latex_escape(table.title) + "}\n";
    if (!table.id.empty()) out += "\\label{tab:" + latex_escape(table.id) + "}\n";
    out += "\\begin{tabular}{" + align + "}\n\\toprule\n";
    auto line = [&](const std::vector<std::string>& cols) {
      for (size_t i = 0; i < cols.size(); ++i) out += (i ? " & " : "") + latex_escape(cols[i]);
      out += " \\\\\n";
    };
    line(table.header);
    out += "\\midrule\n";
    for (const auto& r : table.rows) line(r);
    if (table.rows.empty() && !table.empty_text.empty())
      out += fmt::format("\\multicolumn{{{}}}{{l}}{{{}}} \\\\\n", table.header.size(),
                         latex_escape(table.empty_text));
    out += "\\bottomrule\n\\end{tabular}\n";
    if (!table.notes.empty()) {
      out += "\n\\smallskip\n{\\footnotesize\n";
      for (const auto& n : table.notes) out += latex_escape(n) + "\\par\n";
      out += "}\n";
    }
    out += "\\end{table}\n";
  } else {
    out += "<table";
    if (!table.html_class.empty()) out += " class=\"" + html_escape(table.html_class) + "\"";
    if (!table.id.empty()) out += " id=\"" + html_escape(table.id) + "\"";
    out += ">\n";
    if (!table.title.empty()) out += "<caption>" + html_escape(table.title) + "</caption>\n";
    out += "<thead><tr>";
    for (const auto& h : table.header) out += "<th>" + html_escape(h) + "</th>";
    out += "</tr></thead>\n<tbody>\n";
    for (const auto& r : table.rows) {
      out += "<tr>";
      for (size_t i = 0; i < r.size(); ++i)
        out += std::string(i < align.size() && align[i] == 'r' ? "<td class=\"num\">" : "<td>") +
               html_escape(r[i]) + "</td>";
      out += "</tr>\n";
    }
    if (table.rows.empty() && !table.empty_text.empty())
      out += fmt::format("<tr><td colspan=\"{}\" class=\"note\">{}</td></tr>\n",
                         table.header.size(), html_escape(table.empty_text));
    out += "</tbody>\n";
    if (!table.notes.empty()) {
      out += "<tfoot>\n";
      for (const auto& n : table.notes)
        out += fmt::format("<tr><td colspan=\"{}\">{}</td></tr>\n", table.header.size(),
                           html_escape(n));
      out += "</tfoot>\n";
    }
    out += "</table>\n";
  }
  return out;
}

}  // namespace swavbench
