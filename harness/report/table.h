// Tables rendered from the store alone (a table never needs a rerun). Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/core/escape.h"  // csv_field, latex_escape, html_escape, markdown_cell
#include "harness/store/store.h"

namespace swavbench {

struct TableSpec {
  std::string title;
  std::vector<int64_t> run_ids;      // empty: every completed run in the store
  std::vector<std::string> by;       // config keys (or "label") that name a row
  std::vector<std::string> metrics;  // "protocol.metric", e.g. "knn.top1_k20"
  std::string format = "md";         // md | csv | latex
};

// Mean, sample standard deviation and count of the values one cell aggregates.
struct CellStats {
  double mean = 0, std = 0;
  int n = 0;
};
CellStats cell_stats(const std::vector<double>& values);

// Renders the table. Cells are "mean ± std (n)"; a metric never measured for a row is "—".
// Throws InputError when a metric or key is not of the form the spec needs.
std::string render_table(Store& store, const TableSpec& spec);

}  // namespace swavbench
