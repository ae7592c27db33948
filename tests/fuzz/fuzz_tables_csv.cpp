// The committed CSV files a user may edit: results/paper.csv and results/claims.csv.
#include "harness/report/claims.h"
#include "harness/report/paper_tables.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swavbench;
  const std::string path = fuzz::write_input("table.csv", data, size);
  fuzz::expect_parse_or_error([&] { read_paper_csv(path); });
  fuzz::expect_parse_or_error([&] { read_claims_csv(path); });
  return 0;
}
