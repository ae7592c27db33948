// The paper's tables regenerated from the store (`swavbench tables --table NAME`), each cell
// "mean ± std (n)" over seeds, with the published number beside ours where the setting matches
// and the differing setting named where it does not. Torch-free.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/report/table.h"
#include "harness/store/store.h"

namespace swavbench {

// A published reference value (one row of results/paper.csv).
struct PaperValue {
  std::string table, method, arch, epochs, batch, crops, dataset, protocol, metric;
  double value = 0;
  std::string source;
};

// Reads results/paper.csv; throws InputError naming the file and line on a malformed row.
std::vector<PaperValue> read_paper_csv(const std::string& path);

// The six paper tables, in the paper's order, then "cost" (training cost per method and crop
// setting beside the paper's img/s per GPU).
std::vector<std::string> paper_table_names();

// Builds one table from the completed runs in the store (id "paper-NAME", class "paper-table";
// written by format_table). Throws InputError for an unknown name
// (listing the six). A table with no matching runs has no rows and a note saying which suite
// fills it.
Table build_paper_table(Store& store, const std::string& name,
                        const std::vector<PaperValue>& paper);

// `swavbench tables --table NAME`: one table, or every table ("all") separated by blank lines.
std::string render_paper_tables(Store& store, const std::string& name,
                                const std::vector<PaperValue>& paper, const std::string& format);

// "mean ± std (n)" over the finite values ("70.00 (1)" for one; "—" for none); NaNs counted, and
// `diverged` runs (a protocol that measured nothing) named: "diverged (3)" when none measured.
std::string paper_cell_text(const std::vector<double>& values, size_t diverged = 0);

// Shared with the claims (harness/report/claims.cpp), so both read configs and evals alike:
// one CSV line's fields (quotes as RFC 4180; InputError naming `where`), a config value as
// the tables print it ("2x24+4x14" for crops), whether a crops text is multi-crop (more than 2
// crops), and the "protocol.metric" key an eval row is tabulated under.
std::vector<std::string> split_paper_csv_line(const std::string& line, const std::string& where);
std::string run_config_text(const nlohmann::json& config, const std::string& key);
bool crops_are_multi(const std::string& crops_text);
std::string eval_row_key(const EvalRow& row);
// The items with `separator` between them.
std::string join_strings(const std::vector<std::string>& items, const std::string& separator);

}  // namespace swavbench
