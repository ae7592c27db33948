// Plots rendered from the store alone: per-run training curves, ablation bars with error bars,
// throughput per method. Torch-free.
//
// Why gnuplot (Debian `gnuplot-nox`, run as a subprocess on a generated script and data files):
// it is a well-kept Debian tool, one script writes both the PNG (pngcairo) and the SVG of every
// chart, we keep no plotting code of our own, and it runs headless (no X, no display).
//
// The work is split so that it can be tested without gnuplot: collect_* turn store rows into
// series (what is plotted), gnuplot_script turns series into script text (how), write_plots
// writes the data files and script and runs gnuplot once for all charts.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "harness/store/store.h"

namespace swavbench {

struct PlotOptions {
  // "protocol.metric" evals charted as ablation bars (mean ± sample std over seeds).
  std::vector<std::string> ablation_metrics = {"knn.top1_k20", "linear_fast.top1_best"};
  // "label": one chart per (experiment, metric), one bar per run label (the method when
  // unlabelled); the experiment is the run's tag (e.g. "crops"), the suite file for an
  // untagged run. "suite": one chart per metric, one bar per suite.
  std::string group_by = "label";
  int width = 800, height = 450;    // pixels (PNG) and user units (SVG)
  std::string gnuplot = "gnuplot";  // the executable, looked up on PATH unless it has a '/'
};

// One chart written by write_plots.
struct PlotFile {
  std::string title;
  std::string png, svg;  // paths of the written files
  std::string kind;      // "curves" (one run), "ablation", "throughput"
  int64_t run_id = 0;    // the run of a "curves" chart; 0 otherwise
};

// A line series: x and y of equal length (NaN y: no point).
struct LineSeries {
  std::string name;
  std::vector<double> x, y;
};

// One run's curves per epoch (1-based): training loss (left axis) and, when the run logged it,
// the kNN monitor's top-1 (`knn_top1` in epochs.extra_json, right axis).
struct CurveChart {
  std::string id;  // file stem, [A-Za-z0-9_-] only
  std::string title;
  int64_t run_id = 0;
  LineSeries loss, knn;  // knn empty when the run never ran the monitor
  std::vector<std::pair<double, std::string>> alarms;  // (epoch, 1-based; kind): drawn as marks
};

// A bar: mean ± sample standard deviation of n values (std 0 when n == 1).
struct Bar {
  std::string name;
  double mean = 0, std = 0;
  int n = 0;
};

struct BarChart {
  std::string id;  // file stem, [A-Za-z0-9_-] only
  std::string title, ylabel;
  std::string kind;  // "ablation" or "throughput"
  std::vector<Bar> bars;
};

// Runs that have epoch rows (any status: a failed or collapsed run's curve is worth seeing).
std::vector<CurveChart> collect_curves(Store& store);

// Completed runs' eval values for options.ablation_metrics, grouped per options.group_by, in
// first-seen order. A chart with no values is left out. Throws InputError for a malformed metric
// or group_by.
std::vector<BarChart> collect_ablations(Store& store, const PlotOptions& options);

// Images per second per method: each run's mean over its epochs, then mean ± sample std over
// the runs of the method (n = runs). When the runs were measured on several devices a bar is
// per method and device. Empty chart list when no run has epoch rows.
std::vector<BarChart> collect_throughput(Store& store);

// The gnuplot commands for one chart, writing `png` and then `svg` from `data` (the file that
// write_*_data produced). Paths and titles are quoted for gnuplot.
std::string gnuplot_script(const CurveChart& chart, const std::string& data, const std::string& png,
                           const std::string& svg, const PlotOptions& options);
std::string gnuplot_script(const BarChart& chart, const std::string& data, const std::string& png,
                           const std::string& svg, const PlotOptions& options);

// Data file text: curves are two blocks (loss, then kNN) separated by two blank lines;
// bars are one line per bar: "name" mean std n.
std::string curve_data(const CurveChart& chart);
std::string bar_data(const BarChart& chart);

// A gnuplot double-quoted string literal (backslash and quote escaped).
std::string gnuplot_quote(const std::string& text);

// The path gnuplot would run from, or "" when it is not installed.
std::string find_gnuplot(const std::string& program);

// Writes out_dir/plots/{NAME.png, NAME.svg} for every chart (data files and the script in
// out_dir/plots/gnuplot/), running gnuplot once. Throws InputError when there is something to
// plot and gnuplot is missing ("install gnuplot-nox (scripts/setup-deps.sh does)"), Error when
// gnuplot fails (with its output).
std::vector<PlotFile> write_plots(Store& store, const std::string& out_dir,
                                  const PlotOptions& options);

}  // namespace swavbench
