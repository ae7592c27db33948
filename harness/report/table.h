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
  std::string format = "md";         // md | csv | latex | html
};

// Mean, sample standard deviation and count of the values one cell aggregates.
struct CellStats {
  double mean = 0, std = 0;
  int n = 0;
};
CellStats cell_stats(const std::vector<double>& values);

// A table as data: what every table of swavbench is before it is written (bench.table and
// `swavbench tables`, the paper's tables, the HTML report). Cells are finished text in Unicode
// ("71.00 ± 1.41 (n=2)", "—"); format_table escapes them for each format.
struct Table {
  std::string id;          // LaTeX \label{tab:ID} and HTML id; empty: none
  std::string html_class;  // the <table>'s class; empty: none
  std::string title;       // caption; empty: none
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes;  // below the table (settings named, caveats)
  std::string align;               // one 'l' or 'r' per column; missing ones are 'l'
  std::string empty_text;          // shown where the rows would be when there are none
};

// md (a "### title" line, a pipe table, notes as a list) | csv (header and rows only) | latex
// (booktabs, compiles) | html (a <table> fragment). Every cell goes through core/escape.h.
// Throws InputError for another format.
std::string format_table(const Table& table, const std::string& format);

// The table bench.table and `swavbench tables` ask for, from the store. Cells are
// "mean ± std (n=N)", "mean (n=1)", or "—" for a metric never measured for a row. Throws
// InputError when a metric or key is not of the form the spec needs.
Table build_table(Store& store, const TableSpec& spec);

// format_table(build_table(store, spec), spec.format).
std::string render_table(Store& store, const TableSpec& spec);

}  // namespace swavbench
