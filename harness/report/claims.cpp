#include "harness/report/claims.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "harness/core/check.h"
#include "harness/core/files.h"
#include "harness/core/provenance.h"
#include "harness/report/paper_tables.h"

namespace swavbench {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::vector<std::string> kClaimColumns{"id",   "kind", "bound", "metrics", "metric_reason",
                                             "a",    "b",    "match", "paper",   "source",
                                             "claim"};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t semi = text.find(';', start);
    std::string part =
        text.substr(start, semi == std::string::npos ? std::string::npos : semi - start);
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (!part.empty()) out.push_back(part);
    if (semi == std::string::npos) break;
    start = semi + 1;
  }
  return out;
}

std::vector<ClaimCondition> parse_conditions(const std::string& text, const std::string& where) {
  std::vector<ClaimCondition> out;
  for (const std::string& part : split_list(text)) {
    const size_t eq = part.find('=');
    SB_INPUT_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < part.size(),
                   "{}: condition '{}' must be key=value (e.g. tag=crops;method=swav)", where,
                   part);
    out.push_back({part.substr(0, eq), part.substr(eq + 1)});
  }
  SB_INPUT_CHECK(!out.empty(), "{}: a side needs at least one condition (e.g. method=swav)", where);
  return out;
}

// Regularised incomplete beta I_x(a, b) by its continued fraction (modified Lentz), on the side
// of x where the fraction converges quickly.
double incomplete_beta_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300, kEps = 1e-15;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double result = d;
  for (int m = 1; m <= 500; ++m) {
    const double even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
    d = 1.0 + even * d;
    c = 1.0 + even / c;
    if (std::fabs(d) < kTiny) d = kTiny;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    result *= d * c;
    const double odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
    d = 1.0 + odd * d;
    c = 1.0 + odd / c;
    if (std::fabs(d) < kTiny) d = kTiny;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double step = d * c;
    result *= step;
    if (std::fabs(step - 1.0) < kEps) break;
  }
  return result;
}

double regularised_incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1.0) / (a + b + 2.0)) return front * incomplete_beta_fraction(a, b, x) / a;
  return 1.0 - front * incomplete_beta_fraction(b, a, 1.0 - x) / b;
}

double student_t_cdf(double t, double df) {
  const double tail = 0.5 * regularised_incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
  return t > 0 ? 1.0 - tail : tail;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double variance_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(v.size() - 1);
}

std::string signed_number(double v) { return fmt::format("{:+.2f}", v); }

}  // namespace

std::vector<ClaimSpec> read_claims_csv(const std::string& path) {
  check_input_file(path, "claims file");
  std::ifstream in(path);
  SB_INPUT_CHECK(in.good(), "cannot read the claims file {}", path);
  std::vector<ClaimSpec> claims;
  std::string line;
  int line_number = 0;
  bool header_seen = false;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::string where = fmt::format("{}:{}", path, line_number);
    std::vector<std::string> f = split_paper_csv_line(line, where);
    if (!header_seen) {
      SB_INPUT_CHECK(f == kClaimColumns, "{}: the header must be '{}'", where,
                     join_strings(kClaimColumns, ","));
      header_seen = true;
      continue;
    }
    SB_INPUT_CHECK(f.size() == kClaimColumns.size(), "{}: {} fields, expected {} ({})", where,
                   f.size(), kClaimColumns.size(), join_strings(kClaimColumns, ","));
    ClaimSpec c;
    c.id = f[0];
    SB_INPUT_CHECK(!c.id.empty(), "{}: the claim has no id", where);
    if (f[1] == "greater") {
      c.kind = ClaimKind::kGreater;
    } else if (f[1] == "less") {
      c.kind = ClaimKind::kLess;
    } else if (f[1] == "within") {
      c.kind = ClaimKind::kWithin;
    } else {
      throw InputError(
          fmt::format("{}: kind '{}' is not one of greater, less, within", where, f[1]));
    }
    if (!f[2].empty()) {
      try {
        size_t used = 0;
        c.bound = std::stod(f[2], &used);
        SB_INPUT_CHECK(used == f[2].size(), "{}: bound '{}' is not a number", where, f[2]);
      } catch (const std::logic_error&) {
        throw InputError(fmt::format("{}: bound '{}' is not a number", where, f[2]));
      }
    }
    SB_INPUT_CHECK(c.kind != ClaimKind::kWithin || c.bound > 0,
                   "{}: a 'within' claim needs a positive bound (its margin)", where);
    c.metrics = split_list(f[3]);
    SB_INPUT_CHECK(!c.metrics.empty(), "{}: no metric (e.g. linear_fast.top1_best)", where);
    c.metric_reason = f[4];
    SB_INPUT_CHECK(!c.metric_reason.empty(),
                   "{}: metric_reason is empty; say why '{}' is the claim's primary metric", where,
                   c.metrics[0]);
    c.a = parse_conditions(f[5], where + " (a)");
    c.b = parse_conditions(f[6], where + " (b)");
    c.match = split_list(f[7]);
    c.paper = f[8];
    c.source = f[9];
    c.text = f[10];
    claims.push_back(std::move(c));
  }
  SB_INPUT_CHECK(header_seen, "{}: empty; expected the header '{}'", path,
                 join_strings(kClaimColumns, ","));
  return claims;
}

double student_t_quantile(double p, double df) {
  SB_CHECK(p > 0 && p < 1 && df > 0, "student_t_quantile({}, {}): needs 0 < p < 1, df > 0", p, df);
  if (p < 0.5) return -student_t_quantile(1.0 - p, df);
  double low = 0, high = 1;
  while (student_t_cdf(high, df) < p) high *= 2;
  for (int i = 0; i < 200 && high - low > 1e-13 * std::max(1.0, high); ++i) {
    const double mid = 0.5 * (low + high);
    (student_t_cdf(mid, df) < p ? low : high) = mid;
  }
  return 0.5 * (low + high);
}

EffectInterval welch_interval(const std::vector<double>& a, const std::vector<double>& b,
                              double confidence) {
  EffectInterval r;
  if (a.empty() || b.empty()) return r;
  r.diff = mean_of(a) - mean_of(b);
  if (a.size() < 2 || b.size() < 2) return r;
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  const double va = variance_of(a) / na, vb = variance_of(b) / nb;
  const double se2 = va + vb;
  r.has_interval = true;
  if (se2 == 0) {
    r.df = na + nb - 2;
    r.low = r.high = r.diff;
    return r;
  }
  r.df = se2 * se2 / (va * va / (na - 1) + vb * vb / (nb - 1));
  const double half = student_t_quantile(1.0 - (1.0 - confidence) / 2.0, r.df) * std::sqrt(se2);
  r.low = r.diff - half;
  r.high = r.diff + half;
  return r;
}

std::string to_string(ClaimVerdict verdict) {
  switch (verdict) {
    case ClaimVerdict::kReproduced:
      return "reproduced";
    case ClaimVerdict::kContradicted:
      return "contradicted";
    case ClaimVerdict::kNotShown:
      return "not shown at this budget";
  }
  return "?";
}

ClaimVerdict judge_claim(const ClaimSpec& claim, const std::vector<double>& a,
                         const std::vector<double>& b) {
  const EffectInterval i95 = welch_interval(a, b, 0.95);
  if (!i95.has_interval) return ClaimVerdict::kNotShown;
  switch (claim.kind) {
    case ClaimKind::kGreater:
      if (i95.low > 0) return ClaimVerdict::kReproduced;
      if (i95.high < 0) return ClaimVerdict::kContradicted;
      return ClaimVerdict::kNotShown;
    case ClaimKind::kLess:
      if (i95.high < claim.bound) return ClaimVerdict::kReproduced;
      if (i95.low > claim.bound) return ClaimVerdict::kContradicted;
      return ClaimVerdict::kNotShown;
    case ClaimKind::kWithin: {
      const EffectInterval i90 = welch_interval(a, b, 0.90);
      if (i90.low > -claim.bound && i90.high < claim.bound) return ClaimVerdict::kReproduced;
      if (i95.low > claim.bound || i95.high < -claim.bound) return ClaimVerdict::kContradicted;
      return ClaimVerdict::kNotShown;
    }
  }
  return ClaimVerdict::kNotShown;
}

int seeds_needed(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() < 2 || b.size() < 2) return 0;
  const double diff = std::fabs(mean_of(a) - mean_of(b));
  const double va = variance_of(a), vb = variance_of(b);
  if (diff == 0 || va + vb == 0) return 0;
  for (int n = 2; n <= 1000; ++n) {
    // Welch's degrees of freedom with n values a side and the observed variances.
    const double df = (n - 1) * (va + vb) * (va + vb) / (va * va + vb * vb);
    if (student_t_quantile(0.975, df) * std::sqrt((va + vb) / n) < diff) return n;
  }
  return 0;
}

std::vector<ClaimResult> evaluate_claims(Store& store, const std::vector<ClaimSpec>& claims) {
  struct RunFacts {
    std::string hash;
    json config;
    std::vector<std::string> tags;
    std::map<std::string, double> evals;
  };
  std::vector<RunFacts> runs;
  for (const RunRow& run : store.runs(kStatusDone)) {
    RunFacts f;
    f.hash = run.hash;
    f.config = json::parse(run.config_json, nullptr, false);
    if (!f.config.is_object()) continue;
    if (!f.config.contains("method")) f.config["method"] = run.method;
    f.tags = store.tags(run.id);
    for (const EvalRow& e : store.evals(run.id))
      if (std::isfinite(e.value)) f.evals[eval_row_key(e)] = e.value;
    runs.push_back(std::move(f));
  }
  const auto holds = [](const RunFacts& r, const ClaimCondition& c) {
    if (c.value == "max" || c.value == "min") return true;  // applied per setting below
    if (c.key == "tag") return std::find(r.tags.begin(), r.tags.end(), c.value) != r.tags.end();
    if (c.key == "crops" && (c.value == "multi" || c.value == "two"))
      return crops_are_multi(run_config_text(r.config, "crops")) == (c.value == "multi");
    return run_config_text(r.config, c.key) == c.value;
  };
  const auto number = [](const RunFacts& r, const std::string& key) {
    return r.config.contains(key) && r.config[key].is_number() ? r.config[key].get<double>()
                                                               : std::nan("");
  };

  std::vector<ClaimResult> results;
  for (const ClaimSpec& claim : claims) {
    // Each side's runs, per setting of the match keys.
    std::map<std::vector<std::string>,
             std::pair<std::vector<const RunFacts*>, std::vector<const RunFacts*>>>
        settings;
    int a_total = 0, b_total = 0;
    for (const RunFacts& r : runs) {
      std::vector<std::string> setting;
      for (const std::string& key : claim.match) setting.push_back(run_config_text(r.config, key));
      const auto all = [&](const std::vector<ClaimCondition>& side) {
        return std::all_of(side.begin(), side.end(),
                           [&](const ClaimCondition& c) { return holds(r, c); });
      };
      if (all(claim.a)) {
        settings[setting].first.push_back(&r);
        ++a_total;
      }
      if (all(claim.b)) {
        settings[setting].second.push_back(&r);
        ++b_total;
      }
    }
    const size_t before = results.size();
    for (auto& [setting, sides] : settings) {
      auto& [a_runs, b_runs] = sides;
      // key=max / key=min: the extreme value among this setting's runs of that side.
      for (auto* side : {&a_runs, &b_runs}) {
        const std::vector<ClaimCondition>& conds = side == &a_runs ? claim.a : claim.b;
        for (const ClaimCondition& c : conds) {
          if (c.value != "max" && c.value != "min") continue;
          double extreme = c.value == "max" ? -INFINITY : INFINITY;
          for (const RunFacts* r : *side) {
            const double v = number(*r, c.key);
            if (std::isfinite(v))
              extreme = c.value == "max" ? std::max(extreme, v) : std::min(extreme, v);
          }
          side->erase(
              std::remove_if(side->begin(), side->end(),
                             [&](const RunFacts* r) { return number(*r, c.key) != extreme; }),
              side->end());
        }
      }
      if (a_runs.empty() || b_runs.empty()) continue;
      ClaimResult res;
      res.claim = &claim;
      for (size_t k = 0; k < claim.match.size(); ++k)
        res.setting += (k ? ", " : "") + claim.match[k] + "=" + setting[k];
      for (const std::string& metric : claim.metrics) {
        std::vector<double> a, b;
        std::vector<std::string> ah, bh;
        for (const RunFacts* r : a_runs)
          if (auto it = r->evals.find(metric); it != r->evals.end()) {
            a.push_back(it->second);
            ah.push_back(r->hash);
          }
        for (const RunFacts* r : b_runs)
          if (auto it = r->evals.find(metric); it != r->evals.end()) {
            b.push_back(it->second);
            bh.push_back(r->hash);
          }
        if (a.empty() || b.empty()) continue;
        res.metric = metric;
        res.a = a;
        res.b = b;
        res.a_hashes = ah;
        res.b_hashes = bh;
        break;
      }
      if (res.metric.empty()) {
        res.note = fmt::format("the runs of this setting have none of: {}",
                               join_strings(claim.metrics, ", "));
        for (const RunFacts* r : a_runs) res.a_hashes.push_back(r->hash);
        for (const RunFacts* r : b_runs) res.b_hashes.push_back(r->hash);
        results.push_back(std::move(res));
        continue;
      }
      res.interval = welch_interval(res.a, res.b, 0.95);
      res.verdict = judge_claim(claim, res.a, res.b);
      if (res.verdict == ClaimVerdict::kNotShown) {
        if (!res.interval.has_interval)
          res.note = "one run on a side: no spread to judge the effect by (run 2 or more seeds)";
        else if (claim.kind != ClaimKind::kWithin)
          res.seeds_needed = seeds_needed(res.a, res.b);
      }
      results.push_back(std::move(res));
    }
    if (results.size() == before) {
      ClaimResult res;
      res.claim = &claim;
      res.note = a_total == 0 || b_total == 0
                     ? fmt::format("no completed runs for side {} yet", a_total == 0 && b_total == 0
                                                                            ? "A or B"
                                                                        : a_total == 0 ? "A"
                                                                                       : "B")
                     : "no setting has runs on both sides (" + join_strings(claim.match, ", ") +
                           " must agree)";
      results.push_back(std::move(res));
    }
  }
  return results;
}

Table claims_table(const std::vector<ClaimResult>& results,
                   const std::set<std::string>& only_hashes) {
  Table t;
  t.id = "claims";
  t.html_class = "paper-table";
  t.title = "The paper's claims on these runs";
  t.header = {"claim", "setting", "metric",
              "A",     "B",       "ours A - B [95% interval]",
              "paper", "verdict", "seeds a side it would need"};
  t.align = "lllrrrlll";
  // Declared primary metrics, grouped: claims that share a metric and its reason are listed
  // once (the crops and control claims all share one), in the order they first appear.
  struct Declaration {
    std::string metric, reason;
    std::vector<std::string> ids;
  };
  std::vector<Declaration> declarations;
  for (const ClaimResult& r : results) {
    if (!only_hashes.empty()) {
      const auto mine = [&](const std::vector<std::string>& hashes) {
        return std::any_of(hashes.begin(), hashes.end(),
                           [&](const std::string& h) { return only_hashes.count(h) > 0; });
      };
      // A suite's own claims: measured on a metric its runs have, with one of them on a side.
      if (r.metric.empty() || (!mine(r.a_hashes) && !mine(r.b_hashes))) continue;
    }
    const ClaimSpec& c = *r.claim;
    std::string effect = "—", verdict = r.note.empty() ? to_string(r.verdict) : "—";
    if (!r.metric.empty()) {
      effect = signed_number(r.interval.diff);
      if (r.interval.has_interval)
        effect +=
            fmt::format(" [{}, {}]", signed_number(r.interval.low), signed_number(r.interval.high));
      if (!r.note.empty()) verdict = to_string(ClaimVerdict::kNotShown) + ": " + r.note;
    } else if (!r.note.empty()) {
      verdict = r.note;
    }
    const std::string paper = c.paper.empty()
                                  ? "direction only"
                                  : c.paper + (c.source.empty() ? "" : " [" + c.source + "]");
    // A stand-in is named as one: the claim was declared on its first metric.
    std::string metric = "—";
    if (!r.metric.empty())
      metric = r.metric == c.metrics[0]
                   ? r.metric
                   : fmt::format("{} (stand-in: the runs lack {})", r.metric, c.metrics[0]);
    auto declared = std::find_if(declarations.begin(), declarations.end(), [&](const auto& d) {
      return d.metric == c.metrics[0] && d.reason == c.metric_reason;
    });
    if (declared == declarations.end())
      declarations.push_back({c.metrics[0], c.metric_reason, {c.id}});
    else if (std::find(declared->ids.begin(), declared->ids.end(), c.id) == declared->ids.end())
      declared->ids.push_back(c.id);
    t.rows.push_back({c.text + " (" + c.id + ")", r.setting.empty() ? "—" : r.setting, metric,
                      r.a.empty() ? "—" : paper_cell_text(r.a),
                      r.b.empty() ? "—" : paper_cell_text(r.b), effect, paper, verdict,
                      r.seeds_needed > 0 ? fmt::format("{}", r.seeds_needed) : "—"});
  }
  t.notes.push_back(
      "A and B: the metric over the runs of each side (mean ± sample std (n seeds)). The "
      "interval is Welch's 95% interval for the difference of means; with one run on a side "
      "there is none, and no verdict.");
  t.notes.push_back(
      "Verdicts: 'A beats B' claims are reproduced when the interval lies above 0 and "
      "contradicted when it lies below; 'below a bound' claims likewise against the bound; "
      "'within a margin' claims are reproduced when the 90% interval lies inside the margin (two "
      "one-sided tests at 5%) and contradicted when the 95% interval lies outside it. Otherwise "
      "the effect is not shown at this budget; the last column says how many seeds a side the "
      "observed spread and effect would need for the interval to clear 0.");
  t.notes.push_back(
      "The metric is the first of the claim's list that both sides have: the paper's claims are "
      "about its 100-epoch linear evaluation on ImageNet; the low-shot probe with all labels, "
      "linear_fast and kNN stand in for it at small budgets, and the metric column says so.");
  if (!declarations.empty()) {
    std::vector<std::string> lines;
    for (const Declaration& d : declarations)
      lines.push_back(fmt::format("{} ({}): {}", d.metric, join_strings(d.ids, ", "), d.reason));
    t.notes.push_back("Primary metrics, declared in results/claims.csv before the runs: " +
                      join_strings(lines, "; ") + ".");
  }
  if (t.rows.empty()) t.empty_text = "No claim bears on these runs.";
  return t;
}

std::string default_claims_csv() {
  for (const std::string& candidate : {std::string("results/claims.csv"),
                                       std::string(swavbench_source_dir()) + "/results/claims.csv"})
    if (fs::exists(candidate)) return candidate;
  return "";
}

}  // namespace swavbench
