// `swavbench db merge OUT IN...`: the databases of a sweep's shards (each task of a cluster
// array writes its own: SQLite must not be shared by writers across machines) gathered into
// one. Runs are matched by hash; a merge is idempotent (merging the same input twice changes
// nothing), and an interrupted merge is completed by running it again.
#pragma once

#include <string>
#include <vector>

#include "harness/store/store.h"

namespace swavbench {

struct MergeSummary {
  int runs_added = 0;     // hashes OUT did not have
  int runs_replaced = 0;  // OUT's unfinished run of the hash replaced by IN's finished one
  int runs_same = 0;      // finished in both with the same weights: rows OUT lacked are added
  int runs_skipped = 0;   // IN's run is unfinished: OUT keeps what it has
  int epochs = 0, evals = 0, alarms = 0, artifacts = 0, tags = 0, bench = 0;  // rows added
  // Artifact paths (checkpoints) recorded in IN that do not exist on this machine.
  std::vector<std::string> missing_artifacts;
};

// Merges the database at `in_path` into `out`. Throws InputError, before writing anything,
// when `in_path` is missing, not a swavbench database, of another schema version than this
// build's, or `out` itself; and, naming both, when a hash is finished in both with different
// weights digests (two different results cannot both be the run).
MergeSummary merge_database(Store& out, const std::string& in_path);

}  // namespace swavbench
