#include "harness/report/plots.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "harness/core/check.h"
#include "harness/core/files.h"
#include "harness/report/table.h"

namespace swavbench {
namespace fs = std::filesystem;

namespace {

// A file stem made of [A-Za-z0-9_-], unique among `taken`.
std::string unique_stem(const std::string& raw, std::set<std::string>& taken) {
  std::string stem;
  for (char c : raw) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    stem += ok ? c : '_';
  }
  if (stem.empty()) stem = "plot";
  std::string candidate = stem;
  for (int i = 2; taken.count(candidate); ++i) candidate = fmt::format("{}_{}", stem, i);
  taken.insert(candidate);
  return candidate;
}

std::string run_name(const RunRow& r) { return r.label.empty() ? r.method : r.label; }

std::string suite_name(const RunRow& r) {
  if (r.suite.empty()) return "(no suite)";
  return fs::path(r.suite).filename().string();
}

// A number as gnuplot reads it: NaN for a missing value, round-trip precision otherwise.
std::string number(double v) {
  if (!std::isfinite(v)) return "NaN";
  return fmt::format("{}", v);
}

// A data-file field: gnuplot splits whitespace-separated columns but keeps "quoted text" whole;
// it has no escape for a quote inside one, so quotes become apostrophes.
std::string data_field(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"')
      out += '\'';
    else if (c == '\n' || c == '\r' || c == '\t')
      out += ' ';
    else
      out += c;
  }
  return out + "\"";
}

std::string terminal_lines(const std::string& term, const std::string& output,
                           const PlotOptions& options) {
  if (term == "png")
    return fmt::format(
        "set terminal pngcairo noenhanced size {},{} font \"sans,10\" background \"white\"\n"
        "set output {}\n",
        options.width, options.height, gnuplot_quote(output));
  return fmt::format(
      "set terminal svg noenhanced size {},{} dynamic font \"sans,10\" background \"white\"\n"
      "set output {}\n",
      options.width, options.height, gnuplot_quote(output));
}

// The same plot to PNG and then SVG.
std::string both_terminals(const std::string& setup, const std::string& plot,
                           const std::string& png, const std::string& svg,
                           const PlotOptions& options) {
  return "reset\nset encoding utf8\n" + setup + terminal_lines("png", png, options) + plot +
         "set output\n" + terminal_lines("svg", svg, options) + plot + "set output\n";
}

}  // namespace

std::string gnuplot_quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out + "\"";
}

std::vector<CurveChart> collect_curves(Store& store) {
  std::vector<CurveChart> charts;
  std::set<std::string> taken;
  for (const RunRow& r : store.runs()) {
    std::vector<EpochRow> epochs = store.epochs(r.id);
    if (epochs.empty()) continue;
    CurveChart c;
    c.run_id = r.id;
    c.id = unique_stem(fmt::format("run{}_curves", r.id), taken);
    c.loss.name = "training loss";
    c.knn.name = "kNN top-1 (%)";
    for (const EpochRow& e : epochs) {
      c.loss.x.push_back(e.epoch + 1);
      c.loss.y.push_back(e.loss);
      nlohmann::json extra = nlohmann::json::parse(e.extra_json, nullptr, false);
      if (extra.is_object() && extra.contains("knn_top1") && extra["knn_top1"].is_number()) {
        c.knn.x.push_back(e.epoch + 1);
        c.knn.y.push_back(extra["knn_top1"].get<double>());
      }
    }
    for (const AlarmRow& a : store.alarms(r.id)) c.alarms.emplace_back(a.epoch + 1, a.kind);
    c.title =
        fmt::format("run #{} {} ({}, {}): {} per epoch", r.id, run_name(r), r.method, r.status,
                    c.knn.x.empty() ? "training loss" : "training loss and kNN monitor");
    charts.push_back(std::move(c));
  }
  return charts;
}

std::vector<BarChart> collect_ablations(Store& store, const PlotOptions& options) {
  SB_INPUT_CHECK(options.group_by == "label" || options.group_by == "suite",
                 "plots: group_by '{}' is not one of label, suite", options.group_by);
  for (const auto& m : options.ablation_metrics)
    SB_INPUT_CHECK(m.find('.') != std::string::npos && m.front() != '.' && m.back() != '.',
                   "plot metric '{}' must be 'protocol.metric', e.g. 'knn.top1_k20'", m);

  // chart key -> bar name -> values, keeping first-seen order of both.
  struct Pending {
    std::string title, metric;
    std::vector<std::string> order;
    std::map<std::string, std::vector<double>> values;
  };
  std::vector<std::string> chart_order;
  std::map<std::string, Pending> pending;
  std::vector<RunRow> runs = store.runs(kStatusDone);
  for (const auto& metric : options.ablation_metrics) {
    for (const RunRow& r : runs) {
      // "label": a chart per experiment, which is the run's tag (a run reused from another
      // suite keeps its tag, so it lands in the same chart; a run with two tags in both). An
      // untagged run's experiment is the suite that trained it.
      std::vector<std::string> groups;
      std::string bar;
      if (options.group_by == "label") {
        groups = store.tags(r.id);
        if (groups.empty()) groups.push_back(suite_name(r));
        bar = run_name(r);
      } else {
        groups.push_back("");
        bar = suite_name(r);
      }
      for (const EvalRow& e : store.evals(r.id)) {
        if (e.protocol + "." + e.metric != metric || !std::isfinite(e.value)) continue;
        for (const std::string& group : groups) {
          const std::string chart_key = group.empty() ? metric : group + "\n" + metric;
          auto it = pending.find(chart_key);
          if (it == pending.end()) {
            chart_order.push_back(chart_key);
            Pending p;
            p.metric = metric;
            p.title = options.group_by == "label"
                          ? fmt::format("{}: {} (mean ± sample std over seeds)", group, metric)
                          : fmt::format("{} per suite (mean ± sample std over runs)", metric);
            it = pending.emplace(chart_key, std::move(p)).first;
          }
          Pending& p = it->second;
          if (!p.values.count(bar)) p.order.push_back(bar);
          p.values[bar].push_back(e.value);
        }
      }
    }
  }

  std::vector<BarChart> charts;
  std::set<std::string> taken;
  for (const auto& key : chart_order) {
    const Pending& p = pending.at(key);
    BarChart chart;
    chart.kind = "ablation";
    chart.title = p.title;
    chart.ylabel = p.metric;
    std::string raw = "ablation_" + key;
    for (char& c : raw)
      if (c == '\n') c = '_';
    chart.id = unique_stem(raw, taken);
    for (const auto& name : p.order) {
      CellStats s = cell_stats(p.values.at(name));
      chart.bars.push_back({name, s.mean, s.std, s.n});
    }
    charts.push_back(std::move(chart));
  }
  return charts;
}

std::vector<BarChart> collect_throughput(Store& store) {
  struct PerRun {
    std::string method, device;
    double mean = 0;
  };
  std::vector<PerRun> per_run;
  std::set<std::string> devices;
  for (const RunRow& r : store.runs()) {
    std::vector<double> rates;
    for (const EpochRow& e : store.epochs(r.id))
      if (std::isfinite(e.img_per_s) && e.img_per_s > 0) rates.push_back(e.img_per_s);
    if (rates.empty()) continue;
    per_run.push_back({r.method, r.device, cell_stats(rates).mean});
    devices.insert(r.device);
  }
  if (per_run.empty()) return {};
  const bool per_device = devices.size() > 1;
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> values;
  for (const PerRun& p : per_run) {
    std::string name = per_device ? p.method + " @ " + p.device : p.method;
    if (!values.count(name)) order.push_back(name);
    values[name].push_back(p.mean);
  }
  BarChart chart;
  chart.id = "throughput";
  chart.kind = "throughput";
  chart.title = per_device ? "training throughput per method and device (mean ± std over runs)"
                           : fmt::format(
                                 "training throughput per method on {} (mean ± std "
                                 "over runs)",
                                 *devices.begin());
  chart.ylabel = "images / s";
  for (const auto& name : order) {
    CellStats s = cell_stats(values.at(name));
    chart.bars.push_back({name, s.mean, s.std, s.n});
  }
  return {chart};
}

std::string curve_data(const CurveChart& chart) {
  std::string out = "# epoch training_loss\n";
  for (size_t i = 0; i < chart.loss.x.size(); ++i)
    out += number(chart.loss.x[i]) + " " + number(chart.loss.y[i]) + "\n";
  out += "\n\n# epoch knn_top1\n";
  for (size_t i = 0; i < chart.knn.x.size(); ++i)
    out += number(chart.knn.x[i]) + " " + number(chart.knn.y[i]) + "\n";
  return out;
}

std::string bar_data(const BarChart& chart) {
  std::string out = "# name mean std n\n";
  for (const Bar& b : chart.bars)
    out += fmt::format("{} {} {} {}\n", data_field(b.name), number(b.mean), number(b.std), b.n);
  return out;
}

std::string gnuplot_script(const CurveChart& chart, const std::string& data, const std::string& png,
                           const std::string& svg, const PlotOptions& options) {
  double last = chart.loss.x.empty() ? 1 : chart.loss.x.back();
  for (double x : chart.knn.x) last = std::max(last, x);
  std::string setup = fmt::format(
      "set title {}\nset xlabel \"epoch\"\nset ylabel \"training loss\"\nset grid\n"
      "set key outside top center horizontal\nset xrange [0.5:{}]\n",
      gnuplot_quote(chart.title), number(last + 0.5));
  if (last <= 20) setup += "set xtics 1\n";
  for (const auto& [epoch, kind] : chart.alarms)
    setup += fmt::format(
        "set arrow from {0}, graph 0 to {0}, graph 1 nohead lc rgb \"#c62828\" dt 2 lw 2\n"
        "set label {1} at {0}, graph 0.93 right offset -0.5, 0 tc rgb \"#c62828\"\n",
        number(epoch), gnuplot_quote(kind + " alarm"));
  std::string plot = fmt::format(
      "plot {} index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb \"#4e79a7\" "
      "title \"training loss\" axes x1y1",
      gnuplot_quote(data));
  if (!chart.knn.x.empty()) {
    setup += "set ytics nomirror\nset y2tics\nset y2label \"kNN top-1 (%)\"\n";
    plot += fmt::format(
        ", {} index 1 using 1:2 with linespoints lw 2 pt 5 ps 0.6 lc rgb \"#e15759\" "
        "title \"kNN top-1 (%)\" axes x1y2",
        gnuplot_quote(data));
  }
  plot += "\n";
  return both_terminals(setup, plot, png, svg, options);
}

std::string gnuplot_script(const BarChart& chart, const std::string& data, const std::string& png,
                           const std::string& svg, const PlotOptions& options) {
  const char* fmt_value = chart.kind == "throughput" ? "%.0f" : "%.2f";
  size_t longest = 0;
  for (const Bar& b : chart.bars) longest = std::max(longest, b.name.size());
  // Past a handful of bars the value labels no longer fit side by side: they stand upright
  // inside their bars, from the base.
  const bool upright_labels = chart.bars.size() > 5;
  std::string setup = fmt::format(
      "set title {}\nset ylabel {}\nset grid ytics\nunset key\n"
      "set style fill solid 0.6 border -1\nset boxwidth 0.6\n"
      "set xrange [-0.6:{}]\nset yrange [0:*]\nset offsets 0, 0, graph {}, 0\n",
      gnuplot_quote(chart.title), gnuplot_quote(chart.ylabel),
      number(static_cast<double>(chart.bars.size()) - 0.4), upright_labels ? "0.05" : "0.12");
  if (chart.bars.size() * longest > 60) setup += "set xtics rotate by -25\n";
  std::string label = fmt::format(
      "($4 > 1 ? sprintf(\"{0} ± {0} (n=%d)\", $2, $3, $4) : sprintf(\"{0} (n=%d)\", $2, $4))",
      fmt_value);
  std::string plot = fmt::format(
      "plot {0} using 0:2:3:xtic(1) with boxerrorbars lc rgb \"#4e79a7\" lw 1.5, \\\n"
      "     {0} using 0:{3}:{1} with labels {2} notitle\n",
      gnuplot_quote(data), label,
      upright_labels ? "rotate by 90 left offset 0,0.6" : "offset 0,0.9",
      upright_labels ? "(0)" : "($2 + $3)");
  return both_terminals(setup, plot, png, svg, options);
}

std::string find_gnuplot(const std::string& program) {
  if (program.empty()) return "";
  if (program.find('/') != std::string::npos)
    return ::access(program.c_str(), X_OK) == 0 ? program : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate;
  }
  return "";
}

std::vector<PlotFile> write_plots(Store& store, const std::string& out_dir,
                                  const PlotOptions& options) {
  std::vector<CurveChart> curves = collect_curves(store);
  std::vector<BarChart> bars = collect_ablations(store, options);
  for (auto& t : collect_throughput(store)) bars.push_back(std::move(t));
  if (curves.empty() && bars.empty()) return {};

  const std::string exe = find_gnuplot(options.gnuplot);
  SB_INPUT_CHECK(!exe.empty(),
                 "plots need gnuplot ('{}' is not on PATH): install gnuplot-nox "
                 "(scripts/setup-deps.sh does)",
                 options.gnuplot);

  const fs::path plots_dir = fs::absolute(fs::path(out_dir) / "plots").lexically_normal();
  const fs::path work_dir = plots_dir / "gnuplot";
  std::error_code ec;
  fs::create_directories(work_dir, ec);
  SB_INPUT_CHECK(!ec, "cannot create {}: {}", work_dir.string(), ec.message());

  std::vector<PlotFile> files;
  std::string script =
      "# Generated by swavbench (harness/report/plots.cpp): every chart to PNG (pngcairo) and "
      "SVG.\n";
  auto add = [&](const std::string& id, const std::string& title, const std::string& kind,
                 int64_t run_id, const std::string& data_text, auto&& script_for) {
    PlotFile f;
    f.title = title;
    f.kind = kind;
    f.run_id = run_id;
    f.png = (plots_dir / (id + ".png")).string();
    f.svg = (plots_dir / (id + ".svg")).string();
    const fs::path data = work_dir / (id + ".dat");
    write_file(data.string(), data_text);
    script += "\n# " + id + "\n" + script_for(data.string(), f.png, f.svg);
    files.push_back(std::move(f));
  };
  for (const CurveChart& c : curves)
    add(c.id, c.title, "curves", c.run_id, curve_data(c),
        [&](const std::string& d, const std::string& png, const std::string& svg) {
          return gnuplot_script(c, d, png, svg, options);
        });
  for (const BarChart& b : bars)
    add(b.id, b.title, b.kind, 0, bar_data(b),
        [&](const std::string& d, const std::string& png, const std::string& svg) {
          return gnuplot_script(b, d, png, svg, options);
        });

  const fs::path script_path = work_dir / "plots.gp";
  const fs::path log_path = work_dir / "gnuplot.log";
  write_file(script_path.string(), script);
  int rc = run_process({exe, script_path.string()}, log_path.string(), log_path.string());
  SB_CHECK(rc == 0, "gnuplot ({}) failed with status {} on {}:\n{}", exe, rc, script_path.string(),
           read_file(log_path.string()));
  for (const PlotFile& f : files)
    SB_CHECK(fs::exists(f.png) && fs::exists(f.svg), "gnuplot wrote no {} (see {})", f.png,
             log_path.string());
  return files;
}

}  // namespace swavbench
