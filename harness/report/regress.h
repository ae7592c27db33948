// The comparison behind `swavbench regress`: a baseline (results/baseline.json) against the
// metrics of a fresh run of suite/ci.lua, metric by metric, each with its own tolerance.
// Torch-free (unit-tested without training anything: tests/unit/test_regress.cpp).
//
// Three kinds of metric, named "<run label>/<what>":
//   accuracy    "<label>/<protocol>.<metric>", % on the test split. Higher is better; a drop of
//               more than `tolerance` points is a regression, a rise of more is an improvement.
//   loss        "<label>/loss", the final epoch's mean training loss. A fingerprint of the
//               training computation: a relative change of more than `tolerance` (a fraction) in
//               either direction is a regression (an intended change means --update).
//   training_stat  "<label>/<log>", a statistic the method logs over the epoch (SwAV's code
//               entropy and largest prototype share, the contrastive methods' positive similarity,
//               instance or training top-1). Compared as the loss: a fingerprint of what the
//               training computed, relative tolerance, either direction.
//   throughput  "<label>/throughput", training img/s divided by the float GEMM GFLOP/s measured
//               in the same process (the median of its measurements before and after each run),
//               so a slower or busier machine is not mistaken for slower code. Fails when now < (1
//               - tolerance) x baseline; faster is never a failure.
// A metric in the baseline that the run did not produce is a regression; a metric the baseline
// does not know is reported as NEW and does not fail.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace swavbench {

enum class MetricKind { accuracy, loss, training_stat, throughput };
std::string to_string(MetricKind kind);

struct RegressTolerances {
  double accuracy_points = 1.0;  // absolute, in percentage points
  double loss_relative = 0.02;   // |now - base| / |base|, also for training statistics
  double throughput_drop = 0.4;  // fail below (1 - this) x baseline
  double for_kind(MetricKind kind) const;
};

struct MetricValue {
  MetricKind kind = MetricKind::accuracy;
  double value = 0;
  double tolerance = 0;  // accuracy: points; loss, training_stat: relative; throughput: drop
  std::string unit;
  // Context kept next to the value (raw img/s, the GEMM calibration, ...); never compared.
  std::map<std::string, double> info;
};

using MetricMap = std::map<std::string, MetricValue>;

struct Baseline {
  // git_sha, host, date, threads, torch, suite, ... (strings and numbers, kept as given).
  nlohmann::json provenance = nlohmann::json::object();
  double calibration_gflops = 0;  // the GEMM rate (GFLOP/s) the baseline's throughput used
  RegressTolerances tolerances;
  MetricMap metrics;
};

// Parses a baseline; throws InputError naming `path` when the text is not a baseline.
Baseline parse_baseline(const std::string& text, const std::string& path);
// Reads and parses `path`; a missing or unreadable file is an InputError that says to create
// it with `swavbench regress --update`.
Baseline read_baseline(const std::string& path);
// Pretty JSON with a stable key order (objects are sorted), newline-terminated.
std::string baseline_to_json(const Baseline& baseline);
// Writes atomically (temporary file + rename), creating parent directories.
void write_baseline(const std::string& path, const Baseline& baseline);

enum class Verdict { ok, regression, improved, added };
std::string to_string(Verdict verdict);

struct ComparisonRow {
  std::string name;
  MetricKind kind = MetricKind::accuracy;
  std::optional<double> baseline, now;
  double tolerance = 0;
  Verdict verdict = Verdict::ok;
  std::string note;  // why, when it is not plain arithmetic ("missing from this run", ...)
};

// One row per metric of either side, in name order.
std::vector<ComparisonRow> compare_metrics(const MetricMap& baseline, const MetricMap& current);

// Peak-relative throughput rows (info "peak_gflop_per_s": img/s against the CPU's float32 peak)
// compare only on the machine whose peak the baseline recorded: removes from `baseline` every
// such row whose peak differs from the current row's by more than 1%, or whose CPU (info
// "cpu_vendor", "cpu_family", "cpu_model", where both rows carry them: two CPUs can share a
// computed peak) differs from the current row's (the current row then counts as new), and
// returns one note line per row removed.
std::string drop_rows_of_another_peak(MetricMap& baseline, const MetricMap& current);

// The numbers that name a CPU in a throughput row's info: vendor (1 Intel, 2 AMD, 0 other),
// family, model (/proc/cpuinfo's).
double cpu_vendor_code(const std::string& vendor_id);
bool has_regression(const std::vector<ComparisonRow>& rows);

// Text columns of one row: "+0.30 pt", "-1.2 %", "x0.85"; "±1.00 pt", "±2.0 %", ">= x0.60".
std::string format_delta(const ComparisonRow& row);
std::string format_tolerance(MetricKind kind, double tolerance);
// The diff table (metric, baseline, now, delta, tolerance, verdict), aligned plain text.
std::string render_comparison(const std::vector<ComparisonRow>& rows);

}  // namespace swavbench
