#include "harness/train/op_profile.h"

#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "harness/core/check.h"

namespace swavbench {

struct OpProfile::State {
  std::unordered_map<std::string, OpProfileRow> rows;
  double in_ops_s = 0;
};

namespace {

using Clock = std::chrono::steady_clock;

// The profile being recorded, or null. Guarded by active_mutex: an operator that started while
// a profile was alive may end on another thread after it is gone, and must then record nothing.
std::mutex active_mutex;
OpProfile::State* active = nullptr;

// One operator in flight; RecordFunction owns it from start to end. `depth` is its place in
// this thread's stack of callee totals: entry d sums the totals of the operators that the
// frame at depth d called. Indices instead of pointers to the parent frame, so that an end
// that never comes (an operator still running when its profile was removed) cannot leave a
// dangling pointer behind: the next end at a lower depth truncates the stack past it.
struct Frame : at::ObserverContext {
  Clock::time_point start;
  size_t depth = 0;
};
thread_local std::vector<double> callee_totals;

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction&) {
  auto frame = std::make_unique<Frame>();
  frame->depth = callee_totals.size();
  callee_totals.push_back(0.0);
  frame->start = Clock::now();
  return frame;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* context) {
  const Clock::time_point end = Clock::now();
  const auto* frame = static_cast<const Frame*>(context);
  if (frame == nullptr || frame->depth >= callee_totals.size()) return;
  const double total = std::chrono::duration<double>(end - frame->start).count();
  const double callees = callee_totals[frame->depth];
  callee_totals.resize(frame->depth);
  if (frame->depth > 0) callee_totals[frame->depth - 1] += total;
  std::lock_guard<std::mutex> lock(active_mutex);
  if (active == nullptr) return;
  OpProfileRow& row = active->rows[fn.name()];
  if (row.name.empty()) row.name = fn.name();
  ++row.calls;
  row.total_s += total;
  row.self_s += std::max(0.0, total - callees);
  if (frame->depth == 0) active->in_ops_s += total;
}

}  // namespace

OpProfile::OpProfile() : state_(std::make_unique<State>()) {
  {
    std::lock_guard<std::mutex> lock(active_mutex);
    SB_CHECK(active == nullptr, "an OpProfile is already recording: one at a time");
    active = state_.get();
  }
  handle_ = at::addGlobalCallback(
      at::RecordFunctionCallback(&on_start, &on_end)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
}

OpProfile::~OpProfile() {
  at::removeCallback(handle_);
  std::lock_guard<std::mutex> lock(active_mutex);
  active = nullptr;
}

OpProfileSummary OpProfile::summary() const {
  std::lock_guard<std::mutex> lock(active_mutex);
  OpProfileSummary out;
  out.in_ops_s = state_->in_ops_s;
  for (const auto& item : state_->rows) out.rows.push_back(item.second);
  std::sort(out.rows.begin(), out.rows.end(), [](const OpProfileRow& a, const OpProfileRow& b) {
    return a.self_s != b.self_s ? a.self_s > b.self_s : a.name < b.name;
  });
  return out;
}

void OpProfile::clear() {
  std::lock_guard<std::mutex> lock(active_mutex);
  state_->rows.clear();
  state_->in_ops_s = 0;
}

}  // namespace swavbench
