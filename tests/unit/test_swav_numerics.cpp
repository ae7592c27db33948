// Numerics of SwAV's codes, loss and queue (swav/), each checked against a reference that does
// not share code with the implementation: float64 loops over std::vector written out here, values
// worked out by hand, finite differences, and the authors' algorithm re-implemented in Python
// (tests/unit/swav_reference.py).
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/provenance.h"
#include "harness/dist/collective.h"
#include "swav/queue.h"
#include "swav/sinkhorn.h"
#include "swav/swav_loss.h"

#ifndef SWAVBENCH_TEST_PYTHON
#define SWAVBENCH_TEST_PYTHON "/usr/bin/python3"
#endif

#include "tests/unit/thread_collective.h"

namespace swavbench {
namespace {

// ---------------------------------------------------------------------------------------------
// Plain float64 matrices and the reference algorithms, written with loops, not torch ops.

struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> v;

  Matrix() = default;
  Matrix(int64_t r, int64_t c) : rows(r), cols(c), v(static_cast<size_t>(r * c), 0.0) {}
  double& operator()(int64_t r, int64_t c) { return v[static_cast<size_t>(r * cols + c)]; }
  double operator()(int64_t r, int64_t c) const { return v[static_cast<size_t>(r * cols + c)]; }
};

torch::Tensor to_tensor(const Matrix& m, torch::Dtype dtype = torch::kFloat32) {
  return torch::tensor(m.v, torch::kFloat64).reshape({m.rows, m.cols}).to(dtype);
}

Matrix to_matrix(const torch::Tensor& t) {
  torch::Tensor d = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  Matrix m(d.size(0), d.size(1));
  std::copy(d.data_ptr<double>(), d.data_ptr<double>() + d.numel(), m.v.begin());
  return m;
}

// Entries are rounded to float32 so that the float32 implementation sees exactly these numbers.
Matrix uniform_matrix(int64_t rows, int64_t cols, std::mt19937& rng, double lo = -1,
                      double hi = 1) {
  std::uniform_real_distribution<double> dist(lo, hi);
  Matrix m(rows, cols);
  for (double& x : m.v) x = static_cast<float>(dist(rng));
  return m;
}

// Rows are random unit vectors, like SwAV's L2-normalised z and prototypes c.
Matrix unit_rows(int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<double> dist(0.0, 1.0);
  Matrix m(rows, cols);
  for (int64_t r = 0; r < rows; ++r) {
    double norm = 0;
    for (int64_t c = 0; c < cols; ++c) {
      m(r, c) = dist(rng);
      norm += m(r, c) * m(r, c);
    }
    for (int64_t c = 0; c < cols; ++c) m(r, c) = static_cast<float>(m(r, c) / std::sqrt(norm));
  }
  return m;
}

// a * b^T, float64.
Matrix mul_transposed(const Matrix& a, const Matrix& b) {
  Matrix out(a.rows, b.rows);
  for (int64_t i = 0; i < a.rows; ++i) {
    for (int64_t j = 0; j < b.rows; ++j) {
      double s = 0;
      for (int64_t k = 0; k < a.cols; ++k) s += a(i, k) * b(j, k);
      out(i, j) = s;
    }
  }
  return out;
}

Matrix stack_rows(const Matrix& top, const Matrix& bottom) {
  Matrix out(top.rows + bottom.rows, top.cols);
  std::copy(top.v.begin(), top.v.end(), out.v.begin());
  std::copy(bottom.v.begin(), bottom.v.end(), out.v.begin() + static_cast<long>(top.v.size()));
  return out;
}

Matrix last_rows(const Matrix& m, int64_t n) {
  Matrix out(n, m.cols);
  std::copy(m.v.end() - static_cast<long>(n * m.cols), m.v.end(), out.v.begin());
  return out;
}

// Sinkhorn-Knopp on scores (B x K), single process. Returns the codes (B x K); `before_final`
// receives Q (K x B) before the last multiplication by B.
Matrix ref_sinkhorn(const Matrix& scores, double epsilon, int iterations,
                    Matrix* before_final = nullptr) {
  const int64_t b = scores.rows;
  const int64_t k = scores.cols;
  Matrix q(k, b);
  double total = 0;
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < b; ++j) {
      q(i, j) = std::exp(scores(j, i) / epsilon);
      total += q(i, j);
    }
  }
  for (double& x : q.v) x /= total;
  for (int it = 0; it < iterations; ++it) {
    for (int64_t i = 0; i < k; ++i) {
      double row = 0;
      for (int64_t j = 0; j < b; ++j) row += q(i, j);
      for (int64_t j = 0; j < b; ++j) q(i, j) = q(i, j) / row / static_cast<double>(k);
    }
    for (int64_t j = 0; j < b; ++j) {
      double col = 0;
      for (int64_t i = 0; i < k; ++i) col += q(i, j);
      for (int64_t i = 0; i < k; ++i) q(i, j) = q(i, j) / col / static_cast<double>(b);
    }
  }
  if (before_final != nullptr) *before_final = q;
  Matrix codes(b, k);
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < b; ++j) codes(j, i) = q(i, j) * static_cast<double>(b);
  }
  return codes;
}

// -mean_b sum_k q[b, k] log softmax(s[b] / T)_k.
double ref_cross_entropy(const Matrix& q, const Matrix& s, double temperature) {
  double total = 0;
  for (int64_t b = 0; b < s.rows; ++b) {
    double m = -INFINITY;
    for (int64_t k = 0; k < s.cols; ++k) m = std::max(m, s(b, k) / temperature);
    double z = 0;
    for (int64_t k = 0; k < s.cols; ++k) z += std::exp(s(b, k) / temperature - m);
    const double log_z = m + std::log(z);
    for (int64_t k = 0; k < s.cols; ++k) total -= q(b, k) * (s(b, k) / temperature - log_z);
  }
  return total / static_cast<double>(s.rows);
}

// The swapped-prediction loss for given codes (codes[i] belongs to crops_for_assign[i]).
double ref_swav_loss(const std::vector<Matrix>& scores, const std::vector<int64_t>& assign,
                     const std::vector<Matrix>& codes, double temperature) {
  double loss = 0;
  const auto num_crops = static_cast<int64_t>(scores.size());
  for (size_t i = 0; i < assign.size(); ++i) {
    double subloss = 0;
    for (int64_t v = 0; v < num_crops; ++v) {
      if (v != assign[i]) subloss += ref_cross_entropy(codes[i], scores[v], temperature);
    }
    loss += subloss / static_cast<double>(num_crops - 1);
  }
  return loss / static_cast<double>(assign.size());
}

// |got - want| <= rel * |want| + abs_floor for every entry; reports the worst entry.
void expect_close(const Matrix& got, const Matrix& want, double rel, double abs_floor,
                  const std::string& what) {
  ASSERT_EQ(got.rows, want.rows) << what;
  ASSERT_EQ(got.cols, want.cols) << what;
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < want.v.size(); ++i) {
    const double excess = std::abs(got.v[i] - want.v[i]) / (rel * std::abs(want.v[i]) + abs_floor);
    if (excess > worst) {
      worst = excess;
      worst_at = i;
    }
  }
  EXPECT_LE(worst, 1.0) << what << ": entry " << worst_at << " got " << got.v[worst_at] << " want "
                        << want.v[worst_at];
}

void expect_rel_near(double got, double want, double rel, const std::string& what) {
  EXPECT_LE(std::abs(got - want), rel * std::max(std::abs(want), 1e-12))
      << what << ": got " << got << " want " << want;
}

// ---------------------------------------------------------------------------------------------
using test_support::run_ranks;
using test_support::ThreadCollective;

// ---------------------------------------------------------------------------------------------
// a. Sinkhorn against the float64 loops.

// The implementation runs in float32: s / epsilon near 1 / 0.05 = 20 is rounded to half an ulp,
// about 1e-6, and exp turns that into a relative error of about 1e-6 in Q; the normalisations can
// double it for a code entry (worst seen over many random draws: 2.4e-6 relative, on an entry of
// 0.27). Hence 1e-6 relative plus a 1e-6 absolute floor on codes, which lie in [0, 1].
constexpr double kCodeRel = 1e-6;
constexpr double kCodeAbs = 1e-6;

TEST(Sinkhorn, MatchesFloat64LoopReference) {
  struct Shape {
    int64_t b, k;
  };
  std::mt19937 rng(20200617);
  for (Shape shape : {Shape{7, 5}, Shape{64, 30}}) {
    for (bool cosine : {false, true}) {
      // Uniform scores in [-1, 1] are the extreme case of cosine similarities; scores of random
      // unit vectors in 16-D are the typical one.
      const Matrix scores =
          cosine ? mul_transposed(unit_rows(shape.b, 16, rng), unit_rows(shape.k, 16, rng))
                 : uniform_matrix(shape.b, shape.k, rng);
      // Rounded to float32, so both sides start from the same numbers.
      const Matrix input = to_matrix(to_tensor(scores));
      for (double epsilon : {0.05, 0.5}) {
        for (int iterations : {1, 3}) {
          const std::string what =
              "B=" + std::to_string(shape.b) + " K=" + std::to_string(shape.k) +
              (cosine ? " cosine" : " uniform") + " epsilon=" + std::to_string(epsilon) +
              " iterations=" + std::to_string(iterations);
          torch::Tensor codes =
              sinkhorn_knopp(to_tensor(input), epsilon, iterations, local_collective());
          EXPECT_EQ(codes.scalar_type(), torch::kFloat32) << what;
          expect_close(to_matrix(codes), ref_sinkhorn(input, epsilon, iterations), kCodeRel,
                       kCodeAbs, what);
        }
      }
    }
  }
}

// Half-precision scores are promoted to float32 (Sinkhorn amplifies score errors by 1 / epsilon
// inside exp); float64 scores, a reference run's (precision = fp64), stay float64.
TEST(Sinkhorn, ComputesInAtLeastFloat32WhateverTheInputDtype) {
  std::mt19937 rng(7);
  const torch::Tensor scores = to_tensor(uniform_matrix(12, 6, rng));
  for (torch::Dtype dtype : {torch::kFloat16, torch::kBFloat16, torch::kFloat64}) {
    const torch::Tensor low = scores.to(dtype);
    const torch::Tensor codes = sinkhorn_knopp(low, 0.05, 3, local_collective());
    EXPECT_EQ(codes.scalar_type(), dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32);
    const Matrix want = ref_sinkhorn(to_matrix(low), 0.05, 3);
    expect_close(to_matrix(codes), want, kCodeRel, kCodeAbs, c10::toString(dtype));
  }
  // In float64 the codes agree with the float64 reference to float64 rounding.
  const Matrix want = ref_sinkhorn(to_matrix(scores.to(torch::kFloat64)), 0.05, 3);
  expect_close(to_matrix(sinkhorn_knopp(scores.to(torch::kFloat64), 0.05, 3, local_collective())),
               want, 1e-12, 1e-15, "float64");
  // No autograd history leaks out of the codes.
  const torch::Tensor leaf = scores.clone().requires_grad_(true);
  EXPECT_FALSE(sinkhorn_knopp(leaf, 0.05, 3, local_collective()).requires_grad());
}

// b. Marginals.

TEST(Sinkhorn, MarginalsOfTheTransportPlan) {
  std::mt19937 rng(11);
  const int64_t b = 64;
  const int64_t k = 30;
  // Scores of unit vectors in 128-D (SwAV's embedding size) at the paper's epsilon 0.05.
  const torch::Tensor scores =
      to_tensor(mul_transposed(unit_rows(b, 128, rng), unit_rows(k, 128, rng)));
  for (int iterations : {3, 50}) {
    SinkhornTrace trace;
    const torch::Tensor codes =
        sinkhorn_knopp(scores, 0.05, iterations, local_collective(), &trace);
    const Matrix q = to_matrix(trace.before_final_scaling);
    ASSERT_EQ(q.rows, k);
    ASSERT_EQ(q.cols, b);
    // The last step normalises columns, so every sample's mass is exactly 1/B.
    for (int64_t j = 0; j < b; ++j) {
      double col = 0;
      for (int64_t i = 0; i < k; ++i) col += q(i, j);
      EXPECT_NEAR(col * static_cast<double>(b), 1.0, 1e-6) << "column " << j;
    }
    // The rows (prototypes) approach 1/K as the iterations converge; after the default 3
    // iterations they are only roughly equal.
    const double row_tolerance = iterations == 50 ? 1e-5 : 0.5;
    for (int64_t i = 0; i < k; ++i) {
      double row = 0;
      for (int64_t j = 0; j < b; ++j) row += q(i, j);
      EXPECT_NEAR(row * static_cast<double>(k), 1.0, row_tolerance)
          << "row " << i << " after " << iterations << " iterations";
    }
    // Each returned code is a distribution over the prototypes.
    const Matrix c = to_matrix(codes);
    for (int64_t j = 0; j < b; ++j) {
      double sum = 0;
      for (int64_t i = 0; i < k; ++i) {
        EXPECT_GE(c(j, i), 0.0);
        sum += c(j, i);
      }
      EXPECT_NEAR(sum, 1.0, 1e-6) << "code " << j;
    }
  }
}

// The distributed form: the total and the row sums are all-reduced, the columns stay local and
// B is the global batch, so two ranks with half the batch each reproduce one process.
TEST(Sinkhorn, TwoRanksReproduceOneProcess) {
  std::mt19937 rng(3);
  const Matrix scores = uniform_matrix(16, 9, rng);
  const torch::Tensor full = to_tensor(scores);
  SinkhornTrace single_trace;
  const torch::Tensor single = sinkhorn_knopp(full, 0.05, 3, local_collective(), &single_trace);
  std::vector<torch::Tensor> parts(2), traces(2);
  run_ranks(2, [&](int rank, Collective& collective) {
    SinkhornTrace trace;
    parts[static_cast<size_t>(rank)] =
        sinkhorn_knopp(full.slice(0, rank * 8, rank * 8 + 8), 0.05, 3, collective, &trace);
    traces[static_cast<size_t>(rank)] = trace.before_final_scaling;
  });
  expect_close(to_matrix(torch::cat(parts)), to_matrix(single), kCodeRel, kCodeAbs, "codes");
  expect_close(to_matrix(torch::cat(traces, /*dim=*/1)),
               to_matrix(single_trace.before_final_scaling), 1e-6, 1e-9, "before final scaling");
  expect_close(to_matrix(single), ref_sinkhorn(scores, 0.05, 3), kCodeRel, kCodeAbs,
               "single process");
}

TEST(Sinkhorn, RejectsBadArguments) {
  const torch::Tensor scores = torch::zeros({4, 3});
  EXPECT_THROW(sinkhorn_knopp(torch::zeros({4}), 0.05, 3, local_collective()), Error);
  EXPECT_THROW(sinkhorn_knopp(torch::zeros({0, 3}), 0.05, 3, local_collective()), Error);
  EXPECT_THROW(sinkhorn_knopp(scores, 0.0, 3, local_collective()), Error);
  EXPECT_THROW(sinkhorn_knopp(scores, 0.05, -1, local_collective()), Error);
  EXPECT_THROW(sinkhorn_knopp(torch::zeros({4, 3}, torch::kLong), 0.05, 3, local_collective()),
               Error);
}

// c. The loss, worked by hand for 3 crops, B = 2, K = 2.

TEST(SwavLoss, HandComputedThreeCrops) {
  const double s0[2][2] = {{0.9, 0.1}, {-0.3, 0.6}};
  const double s1[2][2] = {{0.8, -0.2}, {0.1, 0.7}};
  const double s2[2][2] = {{0.5, 0.4}, {-0.6, 0.2}};
  const double epsilon = 0.5;
  const double temperature = 0.1;

  // One Sinkhorn iteration on a 2 x 2 score matrix s[b][k], with Q[k][b] = exp(s[b][k] / epsilon)
  // (names: q<prototype><sample>). Returns the codes code[b][k].
  struct Codes {
    double c[2][2];
  };
  auto one_iteration = [&](const double s[2][2]) {
    double q00 = std::exp(s[0][0] / epsilon);
    double q01 = std::exp(s[1][0] / epsilon);
    double q10 = std::exp(s[0][1] / epsilon);
    double q11 = std::exp(s[1][1] / epsilon);
    const double total = q00 + q01 + q10 + q11;
    q00 /= total, q01 /= total, q10 /= total, q11 /= total;
    // Rows: prototype k gets 1/K = 1/2.
    const double row0 = q00 + q01;
    const double row1 = q10 + q11;
    q00 /= row0 * 2, q01 /= row0 * 2, q10 /= row1 * 2, q11 /= row1 * 2;
    // Columns: sample b gets 1/B = 1/2.
    const double col0 = q00 + q10;
    const double col1 = q01 + q11;
    q00 /= col0 * 2, q10 /= col0 * 2, q01 /= col1 * 2, q11 /= col1 * 2;
    // Times B = 2, transposed to [sample][prototype].
    return Codes{{{q00 * 2, q10 * 2}, {q01 * 2, q11 * 2}}};
  };
  // -1/2 sum_b sum_k q[b][k] (s[b][k] / T - log(exp(s[b][0] / T) + exp(s[b][1] / T))).
  auto cross_entropy = [&](const Codes& q, const double s[2][2]) {
    double total = 0;
    for (int b = 0; b < 2; ++b) {
      const double log_z =
          std::log(std::exp(s[b][0] / temperature) + std::exp(s[b][1] / temperature));
      total -=
          q.c[b][0] * (s[b][0] / temperature - log_z) + q.c[b][1] * (s[b][1] / temperature - log_z);
    }
    return total / 2;
  };
  const Codes q0 = one_iteration(s0);
  const Codes q1 = one_iteration(s1);
  // Crop 0's code is predicted by crops 1 and 2, crop 1's by crops 0 and 2; each over (3 - 1)
  // predicting crops, then over the 2 assigning crops.
  const double expected = ((cross_entropy(q0, s1) + cross_entropy(q0, s2)) / 2 +
                           (cross_entropy(q1, s0) + cross_entropy(q1, s2)) / 2) /
                          2;
  double entropy = 0;
  int argmax_count[2] = {0, 0};
  for (const Codes* q : {&q0, &q1}) {
    for (int b = 0; b < 2; ++b) {
      entropy -= q->c[b][0] * std::log(q->c[b][0]) + q->c[b][1] * std::log(q->c[b][1]);
      ++argmax_count[q->c[b][1] > q->c[b][0] ? 1 : 0];
    }
  }
  entropy /= 4;
  const double max_share = std::max(argmax_count[0], argmax_count[1]) / 4.0;

  auto tensor_of = [](const double s[2][2]) {
    return torch::tensor({s[0][0], s[0][1], s[1][0], s[1][1]}, torch::kFloat64).reshape({2, 2});
  };
  SwavLossOptions options;
  options.crops_for_assign = {0, 1};
  options.temperature = temperature;
  options.epsilon = epsilon;
  options.sinkhorn_iterations = 1;
  // float64 scores: the loss path runs in float32, so compare at float32 precision.
  const SwavLossOutput out =
      swav_loss({tensor_of(s0), tensor_of(s1), tensor_of(s2)}, options, local_collective());
  ASSERT_EQ(out.loss.dim(), 0);
  expect_rel_near(out.loss.item<double>(), expected, 1e-6, "loss");
  expect_rel_near(out.code_entropy, entropy, 1e-6, "code entropy");
  EXPECT_DOUBLE_EQ(out.max_prototype_share, max_share);
}

// d. Gradients flow through the predictions only; q is a constant target.

TEST(SwavLoss, GradientMatchesFiniteDifferencesWithCodesHeldFixed) {
  std::mt19937 rng(5);
  const int64_t b = 5;
  const int64_t k = 6;
  const double temperature = 0.1;
  const Matrix prototypes = unit_rows(k, 8, rng);
  std::vector<Matrix> scores;
  for (int v = 0; v < 4; ++v) scores.push_back(mul_transposed(unit_rows(b, 8, rng), prototypes));

  for (const std::vector<int64_t>& assign : {std::vector<int64_t>{0, 1}, std::vector<int64_t>{0}}) {
    SwavLossOptions options;
    options.crops_for_assign = assign;
    options.temperature = temperature;
    std::vector<torch::Tensor> leaves;
    for (const Matrix& s : scores) leaves.push_back(to_tensor(s).requires_grad_(true));
    const SwavLossOutput out = swav_loss(leaves, options, local_collective());
    out.loss.backward();

    std::vector<Matrix> codes;
    for (int64_t a : assign) {
      codes.push_back(ref_sinkhorn(to_matrix(to_tensor(scores[a])), options.epsilon,
                                   options.sinkhorn_iterations));
    }
    expect_rel_near(out.loss.item<double>(), ref_swav_loss(scores, assign, codes, temperature),
                    1e-6, "loss");

    const double h = 1e-6;
    for (size_t v = 0; v < scores.size(); ++v) {
      const bool predicts = assign.size() > 1 || static_cast<int64_t>(v) != assign[0];
      const torch::Tensor& grad = leaves[v].grad();
      if (!predicts) {
        // Crop 0 only supplies the code: no path from the loss reaches its scores.
        EXPECT_TRUE(!grad.defined() || grad.abs().max().item<double>() == 0.0) << "crop " << v;
        continue;
      }
      ASSERT_TRUE(grad.defined()) << "crop " << v;
      Matrix fd(b, k);
      for (int64_t i = 0; i < b; ++i) {
        for (int64_t j = 0; j < k; ++j) {
          std::vector<Matrix> plus = scores;
          std::vector<Matrix> minus = scores;
          plus[v](i, j) += h;
          minus[v](i, j) -= h;
          fd(i, j) = (ref_swav_loss(plus, assign, codes, temperature) -
                      ref_swav_loss(minus, assign, codes, temperature)) /
                     (2 * h);
        }
      }
      expect_close(to_matrix(grad), fd, 1e-5, 1e-6,
                   "gradient of crop " + std::to_string(v) + " with assign size " +
                       std::to_string(assign.size()));
    }
  }
}

TEST(SwavLoss, TwoRanksAverageToOneProcess) {
  std::mt19937 rng(9);
  std::vector<torch::Tensor> full;
  for (int v = 0; v < 3; ++v) full.push_back(to_tensor(uniform_matrix(8, 5, rng)));
  const SwavLossOptions options;
  const double single = swav_loss(full, options, local_collective()).loss.item<double>();
  std::vector<double> losses(2);
  run_ranks(2, [&](int rank, Collective& collective) {
    std::vector<torch::Tensor> mine;
    for (const torch::Tensor& s : full) mine.push_back(s.slice(0, rank * 4, rank * 4 + 4));
    losses[static_cast<size_t>(rank)] = swav_loss(mine, options, collective).loss.item<double>();
  });
  // Each rank's loss is a mean over its own half of the batch.
  expect_rel_near((losses[0] + losses[1]) / 2, single, 1e-6, "mean of rank losses");
}

TEST(SwavLoss, RejectsInconsistentInputs) {
  const std::vector<torch::Tensor> three(3, torch::zeros({4, 5}));
  SwavLossOptions options;
  EXPECT_THROW(swav_loss({torch::zeros({4, 5})}, options, local_collective()), Error);
  EXPECT_THROW(swav_loss({torch::zeros({4, 5}), torch::zeros({3, 5})}, options, local_collective()),
               Error);
  options.crops_for_assign = {0, 3};
  EXPECT_THROW(swav_loss(three, options, local_collective()), Error);
  options.crops_for_assign = {1, 1};
  EXPECT_THROW(swav_loss(three, options, local_collective()), Error);
  options.crops_for_assign = {0, 1};
  options.temperature = 0;
  EXPECT_THROW(swav_loss(three, options, local_collective()), Error);
  options.temperature = 0.1;
  FeatureQueue queue(2, 8, 3, torch::kCPU);
  const torch::Tensor c = torch::zeros({5, 3});
  const std::vector<torch::Tensor> z(2, torch::zeros({4, 3}));
  EXPECT_THROW(swav_loss(three, options, local_collective(), &queue, torch::zeros({5, 2}), z),
               Error);
  EXPECT_THROW(swav_loss(three, options, local_collective(), &queue, c, {z[0]}), Error);
  EXPECT_THROW(
      swav_loss(three, options, local_collective(), &queue, c, {z[0], torch::zeros({3, 3})}),
      Error);
  FeatureQueue one_crop(1, 8, 3, torch::kCPU);
  EXPECT_THROW(swav_loss(three, options, local_collective(), &one_crop, c, z), Error);
  EXPECT_NO_THROW(swav_loss(three, options, local_collective(), &queue, c, z));
}

// e. The queue.

TEST(FeatureQueue, TrimmingRule) {
  EXPECT_EQ(FeatureQueue::trimmed_queue_length(3840, 256), 3840);
  EXPECT_EQ(FeatureQueue::trimmed_queue_length(1000, 256), 768);
  EXPECT_EQ(FeatureQueue::trimmed_queue_length(100, 256), 0);
  EXPECT_EQ(FeatureQueue::per_rank_queue_length(3840, 4), 960);
  EXPECT_THROW(FeatureQueue::per_rank_queue_length(768, 5), Error);
  EXPECT_THROW(FeatureQueue::trimmed_queue_length(100, 0), Error);
}

// A B x D batch whose every entry encodes (tag, row): tag + row / 10.
torch::Tensor tagged_batch(double tag, int64_t rows, int64_t dim) {
  return (torch::arange(rows, torch::kFloat32).div(10).add(tag)).unsqueeze(1).repeat({1, dim});
}

TEST(FeatureQueue, NewestFirstAndUsedOnceFull) {
  FeatureQueue queue(2, 6, 3, torch::kCPU);
  EXPECT_EQ(queue.length(), 6);
  EXPECT_EQ(queue.dim(), 3);
  EXPECT_FALSE(queue.in_use());
  queue.maybe_activate();
  EXPECT_FALSE(queue.in_use());

  for (int step = 1; step <= 3; ++step) {
    queue.push(0, tagged_batch(step, 2, 3).requires_grad_(true));
    queue.maybe_activate();
    // Queue 1 is still empty, so the queue is not in use even once queue 0 is full.
    EXPECT_FALSE(queue.in_use()) << "after push " << step;
  }
  const torch::Tensor expected =
      torch::cat({tagged_batch(3, 2, 3), tagged_batch(2, 2, 3), tagged_batch(1, 2, 3)});
  EXPECT_TRUE(torch::equal(queue.entries(0), expected));
  EXPECT_FALSE(queue.entries(0).requires_grad());
  EXPECT_EQ(queue.entries(1).abs().sum().item<double>(), 0.0);

  queue.push(1, tagged_batch(1, 2, 3));
  queue.push(1, tagged_batch(2, 2, 3));
  queue.maybe_activate();
  EXPECT_FALSE(queue.in_use()) << "queue 1's last row is still empty";
  queue.push(1, tagged_batch(3, 2, 3));
  EXPECT_FALSE(queue.in_use()) << "only maybe_activate() switches the queue on";
  queue.maybe_activate();
  EXPECT_TRUE(queue.in_use());

  queue.push(0, tagged_batch(4, 2, 3));
  EXPECT_TRUE(torch::equal(
      queue.entries(0),
      torch::cat({tagged_batch(4, 2, 3), tagged_batch(3, 2, 3), tagged_batch(2, 2, 3)})));
  queue.maybe_activate();
  EXPECT_TRUE(queue.in_use());

  EXPECT_THROW(queue.push(2, tagged_batch(1, 2, 3)), Error);
  EXPECT_THROW(queue.push(0, tagged_batch(1, 2, 4)), Error);
  EXPECT_THROW(queue.push(0, tagged_batch(1, 7, 3)), Error);
  EXPECT_THROW(queue.entries(-1), Error);
}

TEST(FeatureQueue, SaveLoadRoundTrip) {
  FeatureQueue queue(2, 4, 3, torch::kCPU);
  for (int step = 1; step <= 2; ++step) {
    queue.push(0, tagged_batch(step, 2, 3));
    queue.push(1, tagged_batch(10 + step, 2, 3));
  }
  queue.maybe_activate();
  ASSERT_TRUE(queue.in_use());

  std::stringstream stream;
  {
    torch::serialize::OutputArchive archive;
    queue.save(archive);
    archive.save_to(stream);
  }
  FeatureQueue restored(2, 4, 3, torch::kCPU);
  {
    torch::serialize::InputArchive archive;
    archive.load_from(stream);
    restored.load(archive);
  }
  EXPECT_TRUE(restored.in_use());
  EXPECT_TRUE(torch::equal(restored.entries(0), queue.entries(0)));
  EXPECT_TRUE(torch::equal(restored.entries(1), queue.entries(1)));

  // A queue of another shape (here: another length) must not load silently.
  stream.clear();
  stream.seekg(0);
  FeatureQueue other(2, 6, 3, torch::kCPU);
  torch::serialize::InputArchive archive;
  archive.load_from(stream);
  EXPECT_THROW(other.load(archive), Error);
}

// With the queue in use, the codes are Sinkhorn on [queue scores; batch scores], the last B rows.
TEST(SwavLoss, QueueCodesAreSinkhornOfStackedScores) {
  std::mt19937 rng(13);
  const int64_t b = 4;
  const int64_t k = 5;
  const int64_t d = 3;
  const int64_t num_crops = 3;
  const std::vector<int64_t> assign{0, 1};
  const Matrix prototypes = unit_rows(k, d, rng);
  const torch::Tensor c = to_tensor(prototypes);
  SwavLossOptions options;
  options.crops_for_assign = assign;
  FeatureQueue queue(2, 2 * b, d, torch::kCPU);

  // history[step][i]: the embeddings z of assigning crop i pushed at that step.
  std::vector<std::vector<Matrix>> history;
  for (int step = 0; step < 4; ++step) {
    std::vector<Matrix> z;
    std::vector<Matrix> scores;
    for (int64_t v = 0; v < num_crops; ++v) {
      z.push_back(unit_rows(b, d, rng));
      scores.push_back(mul_transposed(z.back(), prototypes));
    }
    std::vector<torch::Tensor> crop_scores;
    for (const Matrix& s : scores) crop_scores.push_back(to_tensor(s));
    const SwavLossOutput out = swav_loss(crop_scores, options, local_collective(), &queue, c,
                                         {to_tensor(z[0]), to_tensor(z[1])});

    // Steps 0 and 1 see an empty and a half-full queue: not in use. From step 2 on the queue
    // holds steps (s - 1, s - 2), newest first.
    const bool expect_queue = step >= 2;
    EXPECT_EQ(queue.in_use(), expect_queue) << "step " << step;
    std::vector<Matrix> codes;
    std::vector<Matrix> codes_without_queue;
    for (size_t i = 0; i < assign.size(); ++i) {
      const Matrix& batch_scores = scores[static_cast<size_t>(assign[i])];
      codes_without_queue.push_back(
          ref_sinkhorn(batch_scores, options.epsilon, options.sinkhorn_iterations));
      if (!expect_queue) {
        codes.push_back(codes_without_queue.back());
        continue;
      }
      const Matrix queued = stack_rows(history[static_cast<size_t>(step - 1)][i],
                                       history[static_cast<size_t>(step - 2)][i]);
      const Matrix stacked = stack_rows(mul_transposed(queued, prototypes), batch_scores);
      codes.push_back(
          last_rows(ref_sinkhorn(stacked, options.epsilon, options.sinkhorn_iterations), b));
    }
    const double want = ref_swav_loss(scores, assign, codes, options.temperature);
    expect_rel_near(out.loss.item<double>(), want, 1e-6, "loss at step " + std::to_string(step));
    if (expect_queue) {
      // The queue must actually have changed the codes for this test to mean anything.
      const double without =
          ref_swav_loss(scores, assign, codes_without_queue, options.temperature);
      EXPECT_GT(std::abs(want - without), 1e-4 * std::abs(want)) << "step " << step;
    }
    history.push_back({z[0], z[1]});
    EXPECT_TRUE(torch::allclose(queue.entries(1).slice(0, 0, b), to_tensor(z[1]))) << step;
  }
}

// f. Cross-check against the authors' algorithm re-implemented in Python (float64).

bool python_has_torch() {
  const std::string cmd = std::string(SWAVBENCH_TEST_PYTHON) + " -c 'import torch' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

void write_matrix(std::ostream& out, const Matrix& m) {
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t c = 0; c < m.cols; ++c) out << m(r, c) << (c + 1 == m.cols ? '\n' : ' ');
  }
}

TEST(SwavLoss, MatchesPythonReference) {
  if (!python_has_torch()) GTEST_SKIP() << SWAVBENCH_TEST_PYTHON << " cannot import torch";
  const std::string script = std::string(swavbench_source_dir()) + "/tests/unit/swav_reference.py";
  ASSERT_TRUE(std::filesystem::exists(script)) << script;
  std::mt19937 rng(2020);
  const int64_t num_crops = 4;
  const int64_t b = 16;
  const int64_t k = 10;
  const int64_t d = 8;

  for (const bool with_queue : {false, true}) {
    const int64_t length = with_queue ? 2 * b : 0;
    SwavLossOptions options;
    options.crops_for_assign = {0, 1};
    const Matrix prototypes = unit_rows(k, d, rng);
    std::vector<Matrix> z;
    std::vector<Matrix> scores;
    for (int64_t v = 0; v < num_crops; ++v) {
      z.push_back(unit_rows(b, d, rng));
      scores.push_back(mul_transposed(z.back(), prototypes));
    }
    FeatureQueue queue(2, std::max<int64_t>(length, b), d, torch::kCPU);
    std::vector<Matrix> queued;
    if (with_queue) {
      for (int64_t i = 0; i < 2; ++i) {
        for (int64_t step = 0; step < length / b; ++step)
          queue.push(i, to_tensor(unit_rows(b, d, rng)));
        queued.push_back(to_matrix(queue.entries(i)));
      }
    }

    const std::filesystem::path dir = std::filesystem::temp_directory_path();
    const std::string stem =
        "swav_reference_" + std::to_string(::getpid()) + "_" + std::to_string(with_queue ? 1 : 0);
    const std::filesystem::path in_path = dir / (stem + ".in");
    const std::filesystem::path out_path = dir / (stem + ".out");
    {
      std::ofstream in(in_path);
      in.precision(17);
      in << num_crops << ' ' << b << ' ' << k << ' ' << d << ' ' << length << ' ' << options.epsilon
         << ' ' << options.sinkhorn_iterations << ' ' << options.temperature << ' '
         << options.crops_for_assign.size() << '\n';
      for (int64_t a : options.crops_for_assign) in << a << ' ';
      in << '\n';
      for (const Matrix& s : scores) write_matrix(in, s);
      if (with_queue) {
        write_matrix(in, prototypes);
        for (const Matrix& q : queued) write_matrix(in, q);
      }
    }
    const std::string cmd = std::string(SWAVBENCH_TEST_PYTHON) + " " + script + " " +
                            in_path.string() + " " + out_path.string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream result(out_path);
    double want_loss = 0;
    ASSERT_TRUE(result >> want_loss);
    std::vector<Matrix> want_codes(2, Matrix(b, k));
    for (Matrix& m : want_codes) {
      for (double& x : m.v) ASSERT_TRUE(result >> x);
    }
    result.close();
    std::filesystem::remove(in_path);
    std::filesystem::remove(out_path);

    std::vector<torch::Tensor> crop_scores;
    for (const Matrix& s : scores) crop_scores.push_back(to_tensor(s));
    const torch::Tensor c = to_tensor(prototypes);
    const std::string what = with_queue ? "with queue" : "without queue";
    for (size_t i = 0; i < 2; ++i) {
      torch::Tensor out = crop_scores[static_cast<size_t>(options.crops_for_assign[i])];
      if (with_queue) out = torch::cat({to_tensor(queued[i]).mm(c.t()), out});
      const torch::Tensor codes =
          sinkhorn_knopp(out, options.epsilon, options.sinkhorn_iterations, local_collective())
              .slice(0, out.size(0) - b);
      expect_close(to_matrix(codes), want_codes[i], 1e-5, 1e-6,
                   what + " codes " + std::to_string(i));
    }
    const SwavLossOutput got = with_queue ? swav_loss(crop_scores, options, local_collective(),
                                                      &queue, c, {to_tensor(z[0]), to_tensor(z[1])})
                                          : swav_loss(crop_scores, options, local_collective());
    EXPECT_EQ(queue.in_use(), with_queue);
    expect_rel_near(got.loss.item<double>(), want_loss, 1e-5, what + " loss");
  }
}

}  // namespace
}  // namespace swavbench
