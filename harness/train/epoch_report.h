// EpochReport: what one pretraining epoch measured (loss, learning rate, throughput, the
// monitor's values), and its JSON record, which the checkpoint keeps so that a run killed between
// the checkpoint and the epoch's row can write the row on resume. Torch-free.
#pragma once

#include <map>
#include <string>

namespace swavbench {

struct EpochReport {
  int epoch = 0;
  double loss = 0, lr = 0, img_per_s = 0, data_wait = 0, peak_mem = 0;
  double seconds = 0;
  std::map<std::string, double> logs;
};

// The report as JSON: doubles in round-trip form, NaN (which JSON lacks) as null.
std::string epoch_record(const EpochReport& report);

// The report back from epoch_record's text. Throws InputError naming `where` when the text is not
// such a record (a field missing or of another type).
EpochReport epoch_report_from_record(const std::string& text, const std::string& where);

}  // namespace swavbench
