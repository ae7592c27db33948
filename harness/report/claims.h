// The paper's claims, checked against the user's runs (`swavbench claims`, `tables --table
// claims`, the report's first section, the end of every suite). A claim compares two groups of
// completed runs, selected by config keys and tags (never by the suite file's name), on one
// metric: the measured effect A - B with a 95% Welch interval over seeds, the paper's effect,
// and a verdict. Claims live in results/claims.csv. Torch-free.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "harness/report/table.h"
#include "harness/store/store.h"

namespace swavbench {

// Which runs a side of a claim takes: every condition holds. "tag=crops" (the run has the tag),
// "crops=multi" / "crops=two" (more than 2 crops / exactly 2), "key=value" (the config value as
// the tables print it), "key=max" / "key=min" (the largest / smallest numeric value among the
// runs the other conditions keep, per setting).
struct ClaimCondition {
  std::string key, value;
};

enum class ClaimKind {
  kGreater,  // A beats B: the effect A - B is above 0
  kLess,     // A - B stays below `bound` (e.g. multi-crop helps the supervised model less than
             // the self-supervised ones)
  kWithin,   // |A - B| <= bound (equivalence, two one-sided tests at 5%)
};

struct ClaimSpec {
  std::string id;
  ClaimKind kind = ClaimKind::kGreater;
  double bound = 0;                  // kLess: the bound; kWithin: the margin
  std::vector<std::string> metrics;  // eval keys, the first that both sides have is used
  // Why metrics[0] is the primary metric, declared before the runs that judge the claim; the
  // rest of the list are fallbacks for runs that lack it (and the table says so).
  std::string metric_reason;
  std::vector<ClaimCondition> a, b;
  // Config keys whose values must agree between the sides: the claim is judged once per
  // distinct setting of these keys that both sides have (a quick and a full profile apart).
  std::vector<std::string> match;
  std::string paper;   // the paper's effect, as text ("+2 to +4 points"); "" when unknown
  std::string source;  // where the paper says it
  std::string text;    // the claim in words
};

// Reads results/claims.csv (header:
// id,kind,bound,metrics,metric_reason,a,b,match,paper,source,claim; lists inside a field separated
// by ';'). InputError naming the file, the line and the field.
std::vector<ClaimSpec> read_claims_csv(const std::string& path);

// Student's t quantile: the t with P(T <= t) = p for `df` degrees of freedom (df may be
// fractional, as Welch's is). 0 < p < 1, df > 0.
double student_t_quantile(double p, double df);

// A - B with Welch's interval at `confidence`: mean difference, interval ends, the
// Welch-Satterthwaite degrees of freedom. No interval (has_interval false) when either side has
// fewer than 2 values: one run has no spread to judge the other by.
struct EffectInterval {
  double diff = 0, low = 0, high = 0, df = 0;
  bool has_interval = false;
};
EffectInterval welch_interval(const std::vector<double>& a, const std::vector<double>& b,
                              double confidence);

enum class ClaimVerdict { kReproduced, kContradicted, kNotShown };
std::string to_string(ClaimVerdict verdict);

// The verdict of one claim on the measured values: kGreater reproduced when the 95% interval
// lies above 0, contradicted when below; kLess reproduced when it lies below the bound,
// contradicted when above; kWithin reproduced when the 90% interval lies inside +-bound (two
// one-sided tests at 5%), contradicted when the 95% interval lies outside it. Otherwise (and
// always without an interval) not shown.
ClaimVerdict judge_claim(const ClaimSpec& claim, const std::vector<double>& a,
                         const std::vector<double>& b);

// The smallest number of seeds per side for which the observed spreads would put the 95%
// interval clear of 0 (kGreater, kLess) given the observed effect; 0 when it cannot be said
// (fewer than 2 values a side, no effect, or more than 1000 seeds).
int seeds_needed(const std::vector<double>& a, const std::vector<double>& b);

struct ClaimResult {
  const ClaimSpec* claim = nullptr;
  std::string setting;  // "dataset=fashion-mnist, epochs=2" (the match keys), "" without any
  std::string metric;   // the eval key used; "" when no side had runs
  std::vector<double> a, b;
  std::vector<std::string> a_hashes, b_hashes;
  EffectInterval interval;
  ClaimVerdict verdict = ClaimVerdict::kNotShown;
  int seeds_needed = 0;
  std::string note;  // why there is no verdict ("no completed runs for side B", ...)
};

// Evaluates every claim on the completed runs of `store`: one result per claim and setting; a
// claim no run bears on gives one result with a note saying which side has no runs.
std::vector<ClaimResult> evaluate_claims(Store& store, const std::vector<ClaimSpec>& claims);

// The results as a table (id "claims"): claim, setting, metric, A (n), B (n), ours A - B with
// its interval, the paper, the verdict, the seeds the spread would need. `only_hashes`, when
// not empty, keeps the results with a run of those hashes on either side (a suite's own).
Table claims_table(const std::vector<ClaimResult>& results,
                   const std::set<std::string>& only_hashes = {});

// results/claims.csv of this source tree, or of the current directory; "" when neither exists.
std::string default_claims_csv();

}  // namespace swavbench
