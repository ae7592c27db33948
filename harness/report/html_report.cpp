#include "harness/report/html_report.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness/core/check.h"
#include "harness/core/files.h"
#include "harness/core/provenance.h"
#include "harness/core/text.h"
#include "harness/report/claims.h"
#include "harness/report/paper_tables.h"
#include "harness/report/table.h"

namespace swavbench {
namespace fs = std::filesystem;

namespace {

const char* kCss = R"css(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0; color: #1d2330; background: #f4f5f7; line-height: 1.4; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 24px 48px; }
header.top { background: #1d2330; color: #fff; padding: 18px 24px; }
header.top h1 { margin: 0 0 8px; font-size: 24px; }
header.top dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
header.top dt { color: #aab3c5; } header.top dd { margin: 0; }
header.top code { color: #ffe08a; } header.top a { color: #ffb4a8; font-weight: bold; }
nav { margin: 12px 0; font-size: 14px; } nav a { margin-right: 14px; }
h2 { border-bottom: 2px solid #c9ced8; padding-bottom: 4px; margin-top: 32px; }
table { border-collapse: collapse; margin: 8px 0 16px; background: #fff; font-size: 14px; }
th, td { border: 1px solid #c9ced8; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #e8ebf0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.card { background: #fff; border: 1px solid #c9ced8; border-radius: 6px; padding: 12px 16px;
        margin: 16px 0; }
.card h3 { margin: 0 0 8px; }
dl.prov { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 2px 16px;
          margin: 0 0 8px; font-size: 14px; }
dl.prov dt { color: #5a6476; } dl.prov dd { margin: 0; word-break: break-all; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px;
         color: #fff; vertical-align: middle; background: #6b7280; }
.badge.done { background: #2e7d32; } .badge.failed { background: #c62828; }
.badge.interrupted { background: #ef6c00; } .badge.running { background: #1565c0; }
.alarms { background: #fdecea; border: 2px solid #c62828; border-radius: 6px; padding: 8px 16px;
          margin: 16px 0; }
.alarms h2 { color: #b71c1c; border: none; margin: 4px 0; }
.alarm { background: #fff; border-left: 6px solid #c62828; padding: 6px 12px; margin: 8px 0; }
.alarm .advice { color: #1b5e20; }
.ok { background: #e8f5e9; border: 1px solid #2e7d32; border-radius: 6px; padding: 8px 16px; }
.error { background: #fff3e0; border: 1px solid #ef6c00; padding: 6px 12px; }
.note { color: #5a6476; font-size: 13px; }
figure { margin: 12px 0; } figure img { max-width: 100%; border: 1px solid #c9ced8;
                                         background: #fff; }
figcaption { font-size: 13px; color: #5a6476; }
details { margin: 6px 0; } summary { cursor: pointer; color: #1565c0; }
pre { background: #f6f8fa; border: 1px solid #d7dbe2; padding: 8px; overflow-x: auto;
      font-size: 12px; white-space: pre-wrap; word-break: break-all; }
.protocol { display: inline-block; vertical-align: top; margin: 0 24px 6px 0; }
)css";

std::string esc(const std::string& s) { return html_escape(s); }

std::string pretty_json(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return text;
  return j.dump(2);
}

std::string fmt_value(double v) { return std::isfinite(v) ? fmt::format("{:.2f}", v) : "NaN"; }

std::string run_name(const RunRow& r) { return r.label.empty() ? r.method : r.label; }

std::string status_badge(const std::string& status) {
  return fmt::format("<span class=\"badge {0}\">{0}</span>", esc(status));
}

std::string figure(const PlotFile& plot, const fs::path& out_dir) {
  std::string png = read_file(plot.png);
  std::string rel_png = fs::relative(plot.png, out_dir).generic_string();
  std::string rel_svg = fs::relative(plot.svg, out_dir).generic_string();
  return fmt::format(
      "<figure><img alt=\"{0}\" src=\"data:image/png;base64,{1}\">"
      "<figcaption>{0} — <a href=\"{2}\">SVG</a> · <a href=\"{3}\">PNG</a></figcaption>"
      "</figure>\n",
      esc(plot.title), base64_encode(png), esc(rel_svg), esc(rel_png));
}

std::string alarm_html(const AlarmRow& a, const RunRow& r) {
  return fmt::format(
      "<div class=\"alarm\"><strong>{} — run <a href=\"#run-{}\">#{}</a> {} at epoch {}</strong>"
      "<br>Reason: {}<br><span class=\"advice\">Advice: {}</span>"
      "<br><span class=\"note\">raised {}</span></div>\n",
      esc(a.kind), r.id, r.id, esc(run_name(r)), a.epoch + 1, esc(a.reason), esc(a.advice),
      esc(a.created));
}

std::string run_card(Store& store, const RunRow& r, const std::vector<PlotFile>& plots,
                     const fs::path& out_dir) {
  std::string out = fmt::format("<section class=\"card run\" id=\"run-{}\">\n", r.id);
  out += fmt::format("<h3>run #{} — {} {}</h3>\n", r.id, esc(run_name(r)), status_badge(r.status));
  std::vector<std::pair<std::string, std::string>> fields = {
      {"hash", r.hash},
      {"method", r.method},
      {"label", r.label},
      {"status", r.status + (r.reason.empty() ? "" : " — " + r.reason)},
      {"suite", r.suite},
      {"git sha", r.git_sha},
      {"torch", r.torch_version},
      {"device", r.device},
      {"world size", std::to_string(r.world_size)},
      {"per-device batch", std::to_string(r.per_device_batch)},
      {"host", r.host},
      {"pid", std::to_string(r.pid)},
      {"started", r.started},
      {"finished", r.finished.empty() ? "(not finished)" : r.finished},
  };
  out += "<dl class=\"prov\">\n";
  for (const auto& [k, v] : fields)
    out += fmt::format("<dt>{}</dt><dd class=\"prov-{}\">{}</dd>\n", esc(k),
                       k == "git sha" ? "git" : "field", esc(v));
  out += "</dl>\n";

  for (const AlarmRow& a : store.alarms(r.id)) out += alarm_html(a, r);

  bool has_curve = false;
  for (const PlotFile& p : plots)
    if (p.kind == "curves" && p.run_id == r.id) {
      out += figure(p, out_dir);
      has_curve = true;
    }
  std::vector<EpochRow> epochs = store.epochs(r.id);
  if (!has_curve) out += "<p class=\"note\">No epoch rows: nothing trained (or not yet).</p>\n";

  // Evals grouped by protocol and card (rows of one protocol run share their card).
  std::vector<EvalRow> evals = store.evals(r.id);
  out += "<h4>Evaluations</h4>\n";
  if (evals.empty()) out += "<p class=\"note\">No evals recorded.</p>\n";
  std::vector<std::pair<std::string, std::string>> groups;
  std::map<std::pair<std::string, std::string>, std::vector<EvalRow>> by_group;
  for (const EvalRow& e : evals) {
    auto key = std::make_pair(e.protocol, e.card_json);
    if (!by_group.count(key)) groups.push_back(key);
    by_group[key].push_back(e);
  }
  for (const auto& key : groups) {
    const auto& rows = by_group[key];
    out += fmt::format("<div class=\"protocol\"><strong>{}</strong>\n", esc(key.first));
    out += "<table><tr><th>metric</th><th>value</th><th>created</th></tr>\n";
    for (const EvalRow& e : rows)
      out +=
          fmt::format("<tr><td>{}.{}</td><td class=\"num metric-value\">{}</td><td>{}</td></tr>\n",
                      esc(e.protocol), esc(e.metric), fmt_value(e.value), esc(e.created));
    out += "</table>\n";
    out +=
        fmt::format("<details><summary>protocol card ({})</summary><pre>{}</pre></details></div>\n",
                    esc(key.first), esc(pretty_json(key.second)));
  }

  std::vector<ArtifactRow> artifacts = store.artifacts(r.id);
  if (!artifacts.empty()) {
    out += "<details><summary>artifacts (" + std::to_string(artifacts.size()) +
           ")</summary><table><tr><th>kind</th><th>path</th><th>sha256</th></tr>\n";
    for (const ArtifactRow& a : artifacts)
      out += fmt::format("<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n", esc(a.kind),
                         esc(a.path), esc(a.sha256));
    out += "</table></details>\n";
  }

  if (!epochs.empty()) {
    out += fmt::format(
        "<details><summary>epochs ({})</summary><table><tr><th>epoch</th><th>loss</th>"
        "<th>lr</th><th>img/s</th><th>data wait</th><th>peak MiB</th><th>method logs</th></tr>\n",
        epochs.size());
    for (const EpochRow& e : epochs)
      out += fmt::format(
          "<tr><td class=\"num\">{}</td><td class=\"num\">{:.4f}</td><td class=\"num\">{:.4g}"
          "</td><td class=\"num\">{:.0f}</td><td class=\"num\">{:.1f}%</td>"
          "<td class=\"num\">{:.0f}</td><td><code>{}</code></td></tr>\n",
          e.epoch + 1, e.loss, e.lr, e.img_per_s, 100 * e.data_wait, e.peak_mem / (1 << 20),
          esc(e.extra_json));
    out += "</table></details>\n";
  }
  out += fmt::format("<details><summary>config</summary><pre>{}</pre></details>\n",
                     esc(pretty_json(r.config_json)));
  out += "</section>\n";
  return out;
}

}  // namespace

std::string base64_encode(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                 uint32_t(uint8_t(bytes[i + 2]));
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

ReportSummary write_html_report(Store& store, const ReportOptions& options) {
  SB_INPUT_CHECK(!options.out_dir.empty(), "report: --out DIR is required");
  const fs::path out_dir = fs::absolute(options.out_dir).lexically_normal();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  SB_INPUT_CHECK(!ec, "report: cannot create {}: {}", out_dir.string(), ec.message());

  std::vector<PaperValue> paper;
  if (!options.paper_csv.empty()) paper = read_paper_csv(options.paper_csv);

  std::vector<PlotFile> plots = write_plots(store, out_dir.string(), options.plots);
  std::vector<RunRow> runs = store.runs();

  ReportSummary summary;
  summary.index_html = (out_dir / "index.html").string();
  summary.runs = static_cast<int>(runs.size());
  summary.plots = static_cast<int>(plots.size());

  // Summary counts.
  std::map<std::string, int> by_status, by_sha;
  std::vector<std::string> sha_order;
  std::vector<std::pair<AlarmRow, RunRow>> alarms;
  for (const RunRow& r : runs) {
    by_status[r.status]++;
    std::string sha = r.git_sha.empty() ? "(unknown)" : r.git_sha;
    if (!by_sha.count(sha)) sha_order.push_back(sha);
    by_sha[sha]++;
    for (const AlarmRow& a : store.alarms(r.id)) alarms.emplace_back(a, r);
  }
  summary.alarms = static_cast<int>(alarms.size());
  std::string status_text;
  for (const char* s : {kStatusDone, kStatusFailed, kStatusInterrupted, kStatusRunning}) {
    auto it = by_status.find(s);
    if (it == by_status.end()) continue;
    status_text += fmt::format("{}{} {}", status_text.empty() ? "" : " · ", it->second, s);
    by_status.erase(it);
  }
  for (const auto& [s, n] : by_status)
    status_text += fmt::format("{}{} {}", status_text.empty() ? "" : " · ", n, s);
  std::string sha_text;
  for (const auto& sha : sha_order)
    sha_text +=
        fmt::format("{}<code class=\"git-sha\">{}</code> ({} run{})", sha_text.empty() ? "" : ", ",
                    esc(sha), by_sha[sha], by_sha[sha] == 1 ? "" : "s");
  const std::string generated = options.generated.empty() ? utc_now_iso8601() : options.generated;

  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>swavbench report — " + esc(store.path()) + "</title>\n";
  html += "<style>" + std::string(kCss) + "</style>\n</head>\n<body>\n";
  html += "<header class=\"top\"><h1>swavbench report</h1><dl>\n";
  html += fmt::format("<dt>database</dt><dd><code id=\"db-path\">{}</code></dd>\n",
                      esc(fs::absolute(store.path()).lexically_normal().string()));
  html +=
      fmt::format("<dt>runs</dt><dd id=\"run-counts\">{} run{}{}{}</dd>\n", runs.size(),
                  runs.size() == 1 ? "" : "s", status_text.empty() ? "" : ": ", esc(status_text));
  html += fmt::format("<dt>git shas</dt><dd>{}</dd>\n", sha_text.empty() ? "—" : sha_text);
  html += fmt::format("<dt>alarms</dt><dd>{}</dd>\n",
                      alarms.empty() ? std::string("none")
                                     : fmt::format("<a href=\"#alarms\">{} alarm{}</a>",
                                                   alarms.size(), alarms.size() == 1 ? "" : "s"));
  html += fmt::format("<dt>generated</dt><dd>{} by swavbench {} (git {})</dd>\n", esc(generated),
                      esc(swavbench_version()), esc(swavbench_git_sha()));
  html += "</dl></header>\n<main>\n";
  html +=
      "<nav><a href=\"#claims\">claims</a><a href=\"#alarms\">alarms</a>"
      "<a href=\"#tables\">table</a>"
      "<a href=\"#paper\">paper tables</a><a href=\"#plots\">plots</a>"
      "<a href=\"#runs\">runs</a></nav>\n";

  // The paper's claims first: whether these runs reproduce them is what the page is for.
  html += "<section id=\"claims\"><h2>The paper's claims</h2>\n";
  if (options.claims_csv.empty()) {
    html += "<p class=\"note\">No claims loaded (results/claims.csv not found).</p>\n";
  } else {
    const std::vector<ClaimSpec> claims = read_claims_csv(options.claims_csv);
    html += format_table(claims_table(evaluate_claims(store, claims)), "html");
  }
  html += "</section>\n";

  // Then alarms: a collapsed run must not hide under a table.
  if (alarms.empty()) {
    html += "<section id=\"alarms\" class=\"ok\">No collapse alarms in this database.</section>\n";
  } else {
    html += fmt::format(
        "<section id=\"alarms\" class=\"alarms\"><h2>⚠ {} alarm{} (collapse / NaN)</h2>\n",
        alarms.size(), alarms.size() == 1 ? "" : "s");
    for (const auto& [a, r] : alarms) html += alarm_html(a, r);
    html += "</section>\n";
  }

  // The generic table: what `swavbench tables --format html` prints.
  html += "<section id=\"tables\"><h2>All completed runs</h2>\n";
  html +=
      "<p class=\"note\">One row per label; cells are mean ± sample std (n) over the runs "
      "(seeds) of the row, as <code>swavbench tables</code>.</p>\n";
  TableSpec spec;
  spec.format = "html";
  html += render_table(store, spec);
  html += "</section>\n";

  html += "<section id=\"paper\"><h2>Paper tables</h2>\n";
  if (paper.empty())
    html += "<p class=\"note\">No published values loaded (results/paper.csv not found).</p>\n";
  for (const std::string& name : paper_table_names()) {
    try {
      Table t = build_paper_table(store, name, paper);
      html += "<div class=\"paper-block\">\n" + format_table(t, "html") + "</div>\n";
    } catch (const Error& e) {
      html +=
          fmt::format("<div class=\"error\">paper table {}: {}</div>\n", esc(name), esc(e.what()));
    }
  }
  html += "</section>\n";

  html += "<section id=\"plots\"><h2>Plots</h2>\n";
  int shared = 0;
  for (const PlotFile& p : plots)
    if (p.kind != "curves") {
      html += figure(p, out_dir);
      ++shared;
    }
  if (shared == 0) html += "<p class=\"note\">No ablation or throughput data yet.</p>\n";
  html +=
      "<p class=\"note\">Each run's training loss and kNN monitor curves are in its card "
      "below.</p>\n</section>\n";

  html += "<section id=\"runs\"><h2>Runs</h2>\n";
  if (runs.empty()) html += "<p class=\"note\">The database holds no runs.</p>\n";
  for (const RunRow& r : runs) html += run_card(store, r, plots, out_dir);
  html += "</section>\n</main>\n</body>\n</html>\n";

  const fs::path tmp = out_dir / "index.html.tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << html;
    SB_CHECK(out.good(), "cannot write {}", tmp.string());
  }
  fs::rename(tmp, summary.index_html);
  return summary;
}

}  // namespace swavbench
