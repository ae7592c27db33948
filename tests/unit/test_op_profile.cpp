// OpProfile (harness/train/op_profile.h): which operators it records, how often, and that its
// self and total times obey their definitions. Logic only: no assertion depends on how fast an
// operator ran, only on the accounting identities (self times add up to the time inside
// operators; a caller's total covers its callees').
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "harness/core/check.h"
#include "harness/train/op_profile.h"

namespace swavbench {
namespace {

const OpProfileRow* find_row(const OpProfileSummary& s, const std::string& name) {
  for (const auto& row : s.rows)
    if (row.name == name) return &row;
  return nullptr;
}

// The row of `name`, which must have been called `calls` times (a test failure otherwise).
OpProfileRow expect_calls(const OpProfileSummary& s, const std::string& name, int64_t calls) {
  const OpProfileRow* row = find_row(s, name);
  EXPECT_NE(row, nullptr) << name << " was not recorded";
  if (row == nullptr) return OpProfileRow{};
  EXPECT_EQ(row->calls, calls) << name;
  return *row;
}

const OpProfileRow* find_containing(const OpProfileSummary& s, const std::string& part) {
  for (const auto& row : s.rows)
    if (row.name.find(part) != std::string::npos) return &row;
  return nullptr;
}

TEST(OpProfile, CountsEveryCallOfEachOperator) {
  const torch::Tensor a = torch::ones({8, 8}), b = torch::ones({8, 8});
  OpProfileSummary s;
  {
    OpProfile profile;
    for (int i = 0; i < 3; ++i) (void)(a + b);
    for (int i = 0; i < 2; ++i) (void)torch::mm(a, b);
    s = profile.summary();
  }
  expect_calls(s, "aten::add", 3);
  expect_calls(s, "aten::mm", 2);
  // The first profile's callback is gone with it: a new one records only its own calls.
  (void)(a + b);
  OpProfile next;
  (void)(a + b);
  expect_calls(next.summary(), "aten::add", 1);
}

TEST(OpProfile, SelfTimesAddUpToTheTimeInsideOperators) {
  const torch::Tensor a = torch::randn({64, 64}), b = torch::randn({64, 64});
  OpProfile profile;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) (void)torch::matmul(a, b).relu().sum();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const OpProfileSummary s = profile.summary();
  double self_sum = 0;
  for (const auto& row : s.rows) {
    EXPECT_LE(row.self_s, row.total_s + 1e-12) << row.name;
    self_sum += row.self_s;
  }
  // Every frame's total is its self time plus its callees' totals, so on one thread the self
  // times add up to the outermost frames' totals, which lie inside the wall time around them.
  EXPECT_NEAR(self_sum, s.in_ops_s, 1e-9 + 1e-9 * s.in_ops_s);
  EXPECT_GT(s.in_ops_s, 0);
  EXPECT_LE(s.in_ops_s, wall);
  // matmul of two matrices calls mm: the caller's total covers the callee's.
  const OpProfileRow matmul = expect_calls(s, "aten::matmul", 5);
  const OpProfileRow mm = expect_calls(s, "aten::mm", 5);
  EXPECT_GE(matmul.total_s, mm.total_s);
  EXPECT_LE(matmul.self_s, matmul.total_s - mm.total_s + 1e-12);
  // Sorted by self time, largest first.
  for (size_t i = 1; i < s.rows.size(); ++i) EXPECT_GE(s.rows[i - 1].self_s, s.rows[i].self_s);
}

TEST(OpProfile, RecordsAutogradNodesAndOtherThreads) {
  const torch::Tensor w = torch::ones({4}, torch::requires_grad());
  OpProfile profile;
  (torch::ones({4}) * w).sum().backward();
  std::thread other([] {
    const torch::Tensor x = torch::ones({4});
    (void)x.exp();
    (void)x.exp();
  });
  other.join();
  const OpProfileSummary s = profile.summary();
  const OpProfileRow* mul_backward = find_containing(s, "MulBackward0");
  const OpProfileRow* sum_backward = find_containing(s, "SumBackward0");
  ASSERT_NE(mul_backward, nullptr);
  ASSERT_NE(sum_backward, nullptr);
  EXPECT_GE(mul_backward->calls, 1);
  expect_calls(s, "aten::exp", 2);
}

TEST(OpProfile, ClearForgetsAndOnlyOneRecordsAtATime) {
  const torch::Tensor a = torch::ones({4});
  OpProfile profile;
  (void)a.exp();
  ASSERT_NE(find_row(profile.summary(), "aten::exp"), nullptr);
  profile.clear();
  EXPECT_TRUE(profile.summary().rows.empty());
  EXPECT_EQ(profile.summary().in_ops_s, 0);
  (void)a.exp();
  expect_calls(profile.summary(), "aten::exp", 1);
  EXPECT_THROW(OpProfile second, Error);
}

}  // namespace
}  // namespace swavbench
