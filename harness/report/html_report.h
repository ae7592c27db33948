// `swavbench report`: one self-contained HTML page from the store alone. Torch-free.
//
// DIR/index.html holds everything (plots embedded as PNG data URIs, CSS inline, no JavaScript,
// no external resource: it renders offline); DIR/plots/ keeps each plot's PNG and SVG and the
// gnuplot script that drew them. The page: a summary (database, runs by status, git shas,
// generation time), the collapse alarms with their reason and advice, the table of every
// completed run, the paper's tables, the ablation and throughput plots, and per run its
// provenance card, training curves, evals with their protocol cards, epochs and config.
#pragma once

#include <string>
#include <vector>

#include "harness/report/plots.h"
#include "harness/report/table.h"  // html_escape
#include "harness/store/store.h"

namespace swavbench {

struct ReportOptions {
  std::string out_dir;     // created when missing
  std::string paper_csv;   // published values (results/paper.csv); empty: none
  std::string claims_csv;  // the paper's claims (results/claims.csv); empty: no claims section
  PlotOptions plots;
  std::string generated;  // the page's "generated" time; empty: now (UTC)
};

struct ReportSummary {
  std::string index_html;  // path of the written page
  int runs = 0, plots = 0, alarms = 0;
};

// Writes options.out_dir/index.html and options.out_dir/plots/. Throws InputError when gnuplot
// is missing (and there is something to plot) or paper_csv is malformed.
ReportSummary write_html_report(Store& store, const ReportOptions& options);

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(const std::string& bytes);

}  // namespace swavbench
