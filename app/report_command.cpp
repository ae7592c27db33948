#include "app/report_command.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "harness/core/check.h"
#include "harness/core/provenance.h"
#include "harness/report/claims.h"
#include "harness/report/html_report.h"
#include "harness/store/store.h"

namespace swavbench {
namespace fs = std::filesystem;

namespace {

// results/paper.csv from the current directory, else from the source tree; "" when neither.
std::string default_paper_csv() {
  for (const std::string& candidate : {std::string("results/paper.csv"),
                                       std::string(swavbench_source_dir()) + "/results/paper.csv"})
    if (fs::exists(candidate)) return candidate;
  return "";
}

struct ReportArgs {
  std::string db = default_db_path();
  std::string out;
  std::string paper_csv;
  std::string group_by = "label";
  std::vector<std::string> metrics;
};

}  // namespace

Subcommand add_report_command(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "report", "write a self-contained HTML report (tables, plots, provenance, alarms)");
  cmd->add_option("--out", args->out, "output folder: DIR/index.html and DIR/plots/")->required();
  cmd->add_option("--db", args->db, "results database")->capture_default_str();
  cmd->add_option("--paper-csv", args->paper_csv,
                  "published values (default: results/paper.csv when present)");
  cmd->add_option("--group-by", args->group_by, "ablation bars per run label or per suite")
      ->check(CLI::IsMember({"label", "suite"}))
      ->capture_default_str();
  cmd->add_option("--metrics", args->metrics,
                  "protocol.metric evals charted as ablation bars "
                  "(default: knn.top1_k20 linear_fast.top1_best)");
  return {cmd, [args]() {
            SB_INPUT_CHECK(fs::exists(args->db), "report: database {} does not exist", args->db);
            ReportOptions options;
            options.out_dir = args->out;
            if (args->paper_csv.empty()) {
              options.paper_csv = default_paper_csv();
            } else {
              SB_INPUT_CHECK(fs::exists(args->paper_csv), "report: --paper-csv {} does not exist",
                             args->paper_csv);
              options.paper_csv = args->paper_csv;
            }
            options.claims_csv = default_claims_csv();
            options.plots.group_by = args->group_by;
            if (!args->metrics.empty()) options.plots.ablation_metrics = args->metrics;
            Store store(args->db, StoreAccess::kReadOnly);
            ReportSummary s = write_html_report(store, options);
            std::cout << fmt::format("report: {} run(s), {} plot(s), {} alarm(s) -> {}\n", s.runs,
                                     s.plots, s.alarms, s.index_html);
            return 0;
          }};
}

}  // namespace swavbench
