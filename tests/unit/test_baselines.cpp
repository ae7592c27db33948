// Tests of the SimCLR and MoCo v2 baselines (baselines/), each against a reference that shares
// no code with the implementation: float64 loops over std::vector written out here, the
// textbook SimCLR formula, finite differences and values worked out by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "baselines/baselines.h"
#include "baselines/losses.h"
#include "baselines/register.h"
#include "baselines/shuffle_bn.h"
#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/dist/collective.h"
#include "harness/models/heads.h"
#include "harness/models/resnet.h"
#include "harness/train/method.h"
#include "tests/unit/thread_collective.h"

namespace swavbench {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Plain float64 vectors and the reference formulas, written with loops, not torch ops.

using Vec = std::vector<double>;
using Rows = std::vector<Vec>;    // B x D
using Crops = std::vector<Rows>;  // V x B x D

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

Vec normalized(const Vec& a) {
  const double n = std::sqrt(dot(a, a));
  Vec out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] / n;
  return out;
}

// Random unit rows, rounded to float32 (so a float32 tensor holds exactly these numbers) unless
// `exact`, which keeps them unit-norm to float64 precision.
Rows unit_rows(int64_t rows, int64_t dim, std::mt19937& rng, bool exact = false) {
  std::normal_distribution<double> gauss(0.0, 1.0);
  Rows out(static_cast<size_t>(rows), Vec(static_cast<size_t>(dim)));
  for (Vec& r : out) {
    for (double& x : r) x = gauss(rng);
    r = normalized(r);
    if (!exact)
      for (double& x : r) x = static_cast<float>(x);
  }
  return out;
}

Crops unit_crops(int64_t crops, int64_t batch, int64_t dim, std::mt19937& rng) {
  Crops out;
  for (int64_t v = 0; v < crops; ++v) out.push_back(unit_rows(batch, dim, rng));
  return out;
}

torch::Tensor to_tensor(const Rows& rows, torch::Dtype dtype) {
  const int64_t r = static_cast<int64_t>(rows.size());
  const int64_t c = static_cast<int64_t>(rows[0].size());
  std::vector<double> flat;
  for (const Vec& row : rows) flat.insert(flat.end(), row.begin(), row.end());
  return torch::tensor(flat, torch::kFloat64).reshape({r, c}).to(dtype);
}

std::vector<torch::Tensor> to_tensors(const Crops& crops, torch::Dtype dtype,
                                      bool requires_grad = false) {
  std::vector<torch::Tensor> out;
  for (const Rows& c : crops) out.push_back(to_tensor(c, dtype).set_requires_grad(requires_grad));
  return out;
}

Rows to_rows(const torch::Tensor& t) {
  torch::Tensor d = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  Rows out(static_cast<size_t>(d.size(0)), Vec(static_cast<size_t>(d.size(1))));
  const double* p = d.data_ptr<double>();
  for (auto& row : out)
    for (double& x : row) x = *p++;
  return out;
}

// log sum_j exp(x_j), shifted by the maximum.
double log_sum_exp(const Vec& x) {
  double m = -std::numeric_limits<double>::infinity();
  for (double v : x) m = std::max(m, v);
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  return m + std::log(s);
}

// The multi-positive NT-Xent, exactly as its definition reads: the N = V*B embeddings with
// image(i) = i mod B; for each anchor i, -1/(V-1) sum over positives p of
// log(exp(s_ip/T) / sum_{k != i} exp(s_ik/T)), s = dot product; averaged over the N anchors.
double reference_nt_xent(const Crops& z, double t) {
  const size_t v_count = z.size(), b = z[0].size(), n = v_count * b;
  auto row = [&](size_t i) -> const Vec& { return z[i / b][i % b]; };
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    Vec others;
    for (size_t k = 0; k < n; ++k)
      if (k != i) others.push_back(dot(row(i), row(k)) / t);
    const double lse = log_sum_exp(others);
    double anchor = 0;
    for (size_t p = 0; p < n; ++p)
      if (p != i && p % b == i % b) anchor += -(dot(row(i), row(p)) / t - lse);
    total += anchor / static_cast<double>(v_count - 1);
  }
  return total / static_cast<double>(n);
}

// SimCLR's NT-Xent as the paper writes it (Chen et al. 2020, Algorithm 1): z_{2k-1}, z_{2k} are
// the two views of image k, sim(u, v) = u.v / (|u| |v|),
// l(i, j) = -log( exp(sim(z_i, z_j)/T) / sum_{k=1..2N, k != i} exp(sim(z_i, z_k)/T) ),
// L = 1/(2N) sum_k [ l(2k-1, 2k) + l(2k, 2k-1) ].
double textbook_simclr(const Rows& view_a, const Rows& view_b, double t) {
  const size_t n = view_a.size();
  std::vector<Vec> z(2 * n);
  for (size_t k = 0; k < n; ++k) {
    z[2 * k] = view_a[k];
    z[2 * k + 1] = view_b[k];
  }
  auto sim = [&](size_t i, size_t j) {
    return dot(z[i], z[j]) / std::sqrt(dot(z[i], z[i]) * dot(z[j], z[j]));
  };
  auto l = [&](size_t i, size_t j) {
    double denominator = 0;
    for (size_t k = 0; k < 2 * n; ++k)
      if (k != i) denominator += std::exp(sim(i, k) / t);
    return -std::log(std::exp(sim(i, j) / t) / denominator);
  };
  double total = 0;
  for (size_t k = 0; k < n; ++k) total += l(2 * k, 2 * k + 1) + l(2 * k + 1, 2 * k);
  return total / static_cast<double>(2 * n);
}

// InfoNCE of MoCo: mean_i -log( exp(q_i.k_i/T) / (exp(q_i.k_i/T) + sum_j exp(q_i.n_j/T)) ),
// n_j the K queue entries (given here as K rows).
double reference_info_nce(const Rows& q, const Rows& k, const Rows& negatives, double t) {
  double total = 0;
  for (size_t i = 0; i < q.size(); ++i) {
    Vec logits{dot(q[i], k[i]) / t};
    for (const Vec& n : negatives) logits.push_back(dot(q[i], n) / t);
    total += -(logits[0] - log_sum_exp(logits));
  }
  return total / static_cast<double>(q.size());
}

// The documented multi-crop MoCo loss: crop 0 against k1, crop 1 against k0, a small crop the
// mean of its losses against k0 and k1; averaged over the crops.
double reference_moco(const Crops& queries, const Rows& k0, const Rows& k1, const Rows& negatives,
                      double t) {
  double total = 0;
  for (size_t v = 0; v < queries.size(); ++v) {
    if (v == 0) {
      total += reference_info_nce(queries[0], k1, negatives, t);
    } else if (v == 1) {
      total += reference_info_nce(queries[1], k0, negatives, t);
    } else {
      total += 0.5 * (reference_info_nce(queries[v], k0, negatives, t) +
                      reference_info_nce(queries[v], k1, negatives, t));
    }
  }
  return total / static_cast<double>(queries.size());
}

// ---------------------------------------------------------------------------------------------
using test_support::run_ranks;
using test_support::ThreadCollective;

// ---------------------------------------------------------------------------------------------
// a. NT-Xent.

TEST(NtXent, MatchesFloat64LoopReference) {
  std::mt19937 rng(2020);
  for (int64_t crops : {2, 4}) {
    for (double t : {0.1, 0.5}) {
      const Crops z = unit_crops(crops, /*batch=*/3, /*dim=*/4, rng);
      const double expected = reference_nt_xent(z, t);
      // float64 in, so the two sides differ only by summation order.
      const double got64 =
          nt_xent_loss(to_tensors(z, torch::kFloat64), t, local_collective()).item<double>();
      EXPECT_NEAR(got64, expected, 1e-6) << "V " << crops << " T " << t;
      EXPECT_NEAR(got64, expected, 1e-12) << "V " << crops << " T " << t;
      // float32, as in training: logits up to 1/T = 10 carry float32 rounding (~6e-8 relative),
      // so the loss agrees to ~1e-6 relative.
      const double got32 =
          nt_xent_loss(to_tensors(z, torch::kFloat32), t, local_collective()).item<double>();
      EXPECT_NEAR(got32, expected, 1e-6 * std::max(1.0, std::abs(expected)))
          << "V " << crops << " T " << t;
    }
  }
}

TEST(NtXent, TwoCropsIsTextbookSimclr) {
  std::mt19937 rng(7);
  for (int64_t batch : {3, 6}) {
    for (double t : {0.1, 0.5}) {
      // Unit norm to float64 precision: the textbook formula divides by the norms, the
      // implementation relies on the embeddings being normalised.
      const Crops z = {unit_rows(batch, 4, rng, /*exact=*/true),
                       unit_rows(batch, 4, rng, /*exact=*/true)};
      const double got =
          nt_xent_loss(to_tensors(z, torch::kFloat64), t, local_collective()).item<double>();
      EXPECT_NEAR(got, textbook_simclr(z[0], z[1], t), 1e-12) << "B " << batch << " T " << t;
    }
  }
}

TEST(NtXent, GradientMatchesFiniteDifferences) {
  std::mt19937 rng(11);
  const double t = 0.2;
  const Crops z = unit_crops(3, 3, 4, rng);
  std::vector<torch::Tensor> inputs = to_tensors(z, torch::kFloat64, /*requires_grad=*/true);
  nt_xent_loss(inputs, t, local_collective()).backward();
  // Central differences of the float64 reference; error O(h^2 / T^3) ~ 1e-8.
  const double h = 1e-5;
  struct Entry {
    size_t v, b, d;
  };
  for (Entry e : {Entry{0, 0, 0}, Entry{0, 2, 3}, Entry{1, 1, 2}, Entry{2, 0, 1}, Entry{2, 2, 2}}) {
    Crops plus = z, minus = z;
    plus[e.v][e.b][e.d] += h;
    minus[e.v][e.b][e.d] -= h;
    const double numeric = (reference_nt_xent(plus, t) - reference_nt_xent(minus, t)) / (2 * h);
    const double analytic = inputs[e.v]
                                .grad()
                                .index({static_cast<int64_t>(e.b), static_cast<int64_t>(e.d)})
                                .item<double>();
    EXPECT_NEAR(analytic, numeric, 1e-6) << "crop " << e.v << " row " << e.b << " col " << e.d;
  }
}

TEST(NtXent, CollapsedEmbeddingsGiveLogNMinusOneWithoutOverflow) {
  // Every embedding equal: every logit is 1/T, so each anchor's softmax is uniform over its
  // N - 1 candidates. At T = 0.01, exp(100) overflows float32; the log-softmax must not.
  const int64_t crops = 4, batch = 5;
  torch::Tensor same = torch::nn::functional::normalize(
      torch::ones({batch, 8}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  std::vector<torch::Tensor> z(static_cast<size_t>(crops), same);
  const double loss = nt_xent_loss(z, 0.01, local_collective()).item<double>();
  EXPECT_NEAR(loss, std::log(static_cast<double>(crops * batch - 1)), 1e-5);
}

TEST(NtXent, PositiveSimilarityIsMeanCosineOfPositives) {
  std::mt19937 rng(3);
  const Crops z = unit_crops(3, 4, 5, rng);
  double sum = 0;
  int pairs = 0;
  for (size_t v = 0; v < z.size(); ++v)
    for (size_t u = 0; u < z.size(); ++u)
      if (u != v)
        for (size_t b = 0; b < z[0].size(); ++b) {
          sum += dot(z[v][b], z[u][b]);
          ++pairs;
        }
  EXPECT_NEAR(positive_similarity(to_tensors(z, torch::kFloat64)), sum / pairs, 1e-12);
}

TEST(NtXent, TwoRanksReproduceTheSingleProcessLossAndGradient) {
  // Global batch 4 over 2 ranks. The mean of the ranks' losses is the global loss, and each
  // rank's gradient on its own embeddings is world_size times the single-process one (the
  // trainer then averages parameter gradients over the ranks).
  std::mt19937 rng(5);
  const int world = 2;
  const int64_t crops = 3, global_batch = 4, local_batch = 2;
  const double t = 0.3;
  const Crops z = unit_crops(crops, global_batch, 5, rng);
  std::vector<torch::Tensor> full = to_tensors(z, torch::kFloat64, /*requires_grad=*/true);
  torch::Tensor single = nt_xent_loss(full, t, local_collective());
  single.backward();

  std::vector<double> losses(world);
  std::vector<std::vector<torch::Tensor>> grads(world);
  run_ranks(world, [&](int rank, Collective& collective) {
    std::vector<torch::Tensor> local;
    for (const auto& f : full)
      local.push_back(
          f.detach().narrow(0, rank * local_batch, local_batch).clone().set_requires_grad(true));
    torch::Tensor loss = nt_xent_loss(local, t, collective);
    loss.backward();
    losses[rank] = loss.item<double>();
    for (const auto& l : local) grads[rank].push_back(l.grad().clone());
  });
  EXPECT_NEAR((losses[0] + losses[1]) / world, single.item<double>(), 1e-12);
  for (int r = 0; r < world; ++r) {
    for (int64_t v = 0; v < crops; ++v) {
      torch::Tensor expected = world * full[v].grad().narrow(0, r * local_batch, local_batch);
      EXPECT_TRUE(torch::allclose(grads[r][v], expected, 1e-10, 1e-12))
          << "rank " << r << " crop " << v << "\n"
          << grads[r][v] << "\n"
          << expected;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// b. MoCo numerics: InfoNCE, momentum update, queue.

TEST(InfoNce, MatchesFloat64LoopReference) {
  std::mt19937 rng(17);
  const double t = 0.2;
  const Rows q = unit_rows(5, 4, rng), k = unit_rows(5, 4, rng), negatives = unit_rows(7, 4, rng);
  // The queue is D x K: the negatives are its columns.
  torch::Tensor queue = to_tensor(negatives, torch::kFloat64).t().contiguous();
  torch::Tensor logits;
  const double got =
      info_nce_loss(to_tensor(q, torch::kFloat64), to_tensor(k, torch::kFloat64), queue, t, &logits)
          .item<double>();
  EXPECT_NEAR(got, reference_info_nce(q, k, negatives, t), 1e-12);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{5, 8}));
  EXPECT_NEAR(logits[2][0].item<double>(), dot(q[2], k[2]) / t, 1e-12);
  EXPECT_NEAR(logits[2][4].item<double>(), dot(q[2], negatives[3]) / t, 1e-12);
}

TEST(InfoNce, CollapsedEmbeddingsGiveLogKPlusOne) {
  // One point for every query, key and queue entry: the 1 + K logits are equal and the loss is
  // ln(K + 1), MoCo's collapse value (Method::collapse_loss).
  const int64_t k = 32;
  torch::Tensor u = torch::nn::functional::normalize(
      torch::ones({1, 16}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  torch::Tensor q = u.repeat({8, 1});
  torch::Tensor queue = u.t().repeat({1, k});
  EXPECT_NEAR(info_nce_loss(q, q, queue, 0.2).item<double>(), std::log(k + 1.0), 1e-5);
}

// Linear(1, 1) -> BatchNorm1d(1): parameters "0.weight", "0.bias", "1.weight", "1.bias" and BN
// buffers "1.running_mean", "1.running_var", "1.num_batches_tracked".
torch::nn::Sequential tiny_encoder() {
  return torch::nn::Sequential(torch::nn::Linear(1, 1), torch::nn::BatchNorm1d(1));
}

void fill(torch::nn::Module& m, double param_value, double running_mean) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.fill_(param_value);
  m.named_buffers()["1.running_mean"].fill_(running_mean);
}

TEST(Momentum, UpdatesParametersByTheMomentumRuleAndLeavesBuffers) {
  auto key = tiny_encoder();
  auto query = tiny_encoder();
  fill(*key, 1.0, 5.0);
  fill(*query, 3.0, 7.0);
  // theta_k = 0.9 * 1.0 + 0.1 * 3.0 = 1.2, then 0.9 * 1.2 + 0.1 * 3.0 = 1.38.
  momentum_update(*key, *query, 0.9);
  for (const auto& p : key->named_parameters())
    EXPECT_NEAR(p.value().item<double>(), 1.2, 1e-6) << p.key();
  momentum_update(*key, *query, 0.9);
  for (const auto& p : key->named_parameters())
    EXPECT_NEAR(p.value().item<double>(), 1.38, 1e-6) << p.key();
  // BN buffers are the key encoder's own (the authors update parameters only).
  EXPECT_DOUBLE_EQ(key->named_buffers()["1.running_mean"].item<double>(), 5.0);
  // The query side is read, never written.
  for (const auto& p : query->named_parameters()) EXPECT_DOUBLE_EQ(p.value().item<double>(), 3.0);
  // m = 0 copies, m = 1 keeps.
  momentum_update(*key, *query, 1.0);
  EXPECT_NEAR(key->named_parameters()["0.weight"].item<double>(), 1.38, 1e-6);
  momentum_update(*key, *query, 0.0);
  EXPECT_DOUBLE_EQ(key->named_parameters()["0.weight"].item<double>(), 3.0);
}

TEST(Momentum, InitialCopyTakesParametersAndBuffers) {
  auto key = tiny_encoder();
  auto query = tiny_encoder();
  fill(*key, 1.0, 5.0);
  fill(*query, 3.0, 7.0);
  copy_encoder_state(*key, *query);
  for (const auto& p : key->named_parameters()) EXPECT_DOUBLE_EQ(p.value().item<double>(), 3.0);
  EXPECT_DOUBLE_EQ(key->named_buffers()["1.running_mean"].item<double>(), 7.0);
}

TEST(MocoQueueTest, TrimsToAMultipleOfTheGlobalBatch) {
  EXPECT_EQ(MocoQueue::trimmed_length(4096, 256), 4096);
  EXPECT_EQ(MocoQueue::trimmed_length(100, 32), 96);
  EXPECT_EQ(MocoQueue::trimmed_length(65536, 1000), 65000);
  EXPECT_EQ(MocoQueue::trimmed_length(20, 32), 0);
}

TEST(MocoQueueTest, StartsWithRandomUnitColumns) {
  torch::manual_seed(0);
  MocoQueue queue(16, 40, torch::kCPU);
  EXPECT_EQ(queue.keys().sizes(), (std::vector<int64_t>{16, 40}));
  EXPECT_EQ(queue.ptr(), 0);
  EXPECT_TRUE(torch::allclose(queue.keys().norm(2, 0), torch::ones({40}), 1e-5, 1e-6));
  // Random, not a constant: the columns differ.
  EXPECT_GT((queue.keys().select(1, 0) - queue.keys().select(1, 1)).abs().max().item<double>(),
            1e-3);
}

// Pushes `pushes` batches of `batch` keys numbered 0, 1, 2, ... (key j is the vector (j, -j))
// and checks the ring: ptr = total mod K, and column c holds the newest key j with j = c mod K.
void check_ring(int64_t length, int64_t batch, int64_t pushes) {
  MocoQueue queue(2, length, torch::kCPU);
  const torch::Tensor initial = queue.keys().clone();
  int64_t next = 0;
  for (int64_t p = 1; p <= pushes; ++p) {
    torch::Tensor keys = torch::empty({batch, 2});
    for (int64_t i = 0; i < batch; ++i) {
      keys[i][0] = static_cast<float>(next + i);
      keys[i][1] = -static_cast<float>(next + i);
    }
    queue.push(keys);
    next += batch;
    ASSERT_EQ(queue.ptr(), next % length) << "after push " << p;
    for (int64_t c = 0; c < length; ++c) {
      // Newest j < next with j = c (mod K), if any was written.
      const int64_t newest = next - 1 - ((next - 1 - c) % length + length) % length;
      if (newest >= 0 && c < next) {
        EXPECT_EQ(queue.keys()[0][c].item<float>(), static_cast<float>(newest))
            << "K " << length << " batch " << batch << " push " << p << " column " << c;
        EXPECT_EQ(queue.keys()[1][c].item<float>(), -static_cast<float>(newest));
      } else {
        EXPECT_TRUE(torch::equal(queue.keys().select(1, c), initial.select(1, c)))
            << "column " << c << " should still hold its initial random key";
      }
    }
  }
}

TEST(MocoQueueTest, HoldsTheLastKKeysInRingOrder) {
  check_ring(/*length=*/12, /*batch=*/4, /*pushes=*/7);  // K a multiple of the batch
  check_ring(/*length=*/10, /*batch=*/4, /*pushes=*/7);  // wraps in the middle of a batch
  check_ring(/*length=*/5, /*batch=*/7, /*pushes=*/3);   // a push longer than K keeps the last K
}

TEST(MocoQueueTest, SavesAndLoadsKeysAndPointer) {
  MocoQueue queue(3, 8, torch::kCPU);
  queue.push(torch::ones({3, 3}));
  torch::serialize::OutputArchive out;
  queue.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);

  MocoQueue restored(3, 8, torch::kCPU);
  std::istringstream in_bytes(bytes.str());
  torch::serialize::InputArchive in;
  in.load_from(in_bytes);
  restored.load(in);
  EXPECT_EQ(restored.ptr(), 3);
  EXPECT_TRUE(torch::equal(restored.keys(), queue.keys()));

  MocoQueue other_shape(3, 16, torch::kCPU);
  std::istringstream in_bytes2(bytes.str());
  torch::serialize::InputArchive in2;
  in2.load_from(in_bytes2);
  EXPECT_THROW(other_shape.load(in2), InputError);
}

// ---------------------------------------------------------------------------------------------
// c. Real steps through the registered Methods.

RunConfig small_config(const std::string& method, json extra = json::object()) {
  json table = {
      {"method", method},
      {"arch", "resnet10"},
      {"width", 0.25},
      {"batch_size", 8},
      {"crops",
       json::array({{{"count", 2}, {"size", 28}, {"min_scale", 0.3}, {"max_scale", 1.0}},
                    {{"count", 2}, {"size", 14}, {"min_scale", 0.1}, {"max_scale", 0.3}}})},
      {"moco_queue", 32}};
  table.update(extra);
  return resolve_config(table, json::object(), "test_baselines");
}

std::unique_ptr<Method> build(const RunConfig& config) {
  static const bool registered = [] {
    register_baseline_methods();
    return true;
  }();
  (void)registered;
  return make_method(config.method, MethodContext{config, 10, 1, torch::kCPU, local_collective()});
}

// Two 28 px and two 14 px grey crops of 8 random "images": each crop is its image (average-pooled
// to 14 px for the small crops) plus independent noise, so the views of one image are related
// as augmented crops are.
MultiCropBatch random_batch(int64_t batch = 8) {
  MultiCropBatch b;
  torch::Tensor images = torch::randn({batch, 1, 28, 28});
  torch::Tensor small = torch::avg_pool2d(images, 2);
  for (int i = 0; i < 2; ++i) b.crops.push_back(images + 0.5 * torch::randn_like(images));
  for (int i = 0; i < 2; ++i) b.crops.push_back(small + 0.5 * torch::randn_like(small));
  b.size_groups = {{0, 2}, {2, 4}};
  b.labels = torch::randint(0, 10, {batch}, torch::TensorOptions().dtype(torch::kInt64));
  for (int64_t i = 0; i < batch; ++i) b.sample_ids.push_back(i);
  return b;
}

template <typename T>
std::shared_ptr<T> child(torch::nn::Module& m, const std::string& name) {
  auto found = std::dynamic_pointer_cast<T>(m.named_children()[name]);
  EXPECT_TRUE(found) << name;
  return found;
}

// MoCo v2's four encoder halves, as the method registers them.
struct MocoParts {
  std::shared_ptr<ResNetImpl> backbone, key_backbone;
  std::shared_ptr<ProjectionHeadImpl> head, key_head;
  std::shared_ptr<torch::nn::Module> key_encoder;
};
MocoParts moco_parts(torch::nn::Module& root) {
  MocoParts parts;
  parts.backbone = child<ResNetImpl>(root, "backbone");
  parts.head = child<ProjectionHeadImpl>(root, "projection_head");
  parts.key_encoder = root.named_children()["key_encoder"];
  parts.key_backbone = child<ResNetImpl>(*parts.key_encoder, "backbone");
  parts.key_head = child<ProjectionHeadImpl>(*parts.key_encoder, "projection_head");
  return parts;
}

// normalize(head(backbone(x))), normalised here in float64; one row per sample.
Rows embed_rows(ResNetImpl& backbone, ProjectionHeadImpl& head, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  Rows rows = to_rows(head.forward(backbone.forward(x)));
  for (Vec& r : rows) r = normalized(r);
  return rows;
}

// Embeddings of every crop as the authors' SwAV forward computes them: the trunk per size group
// (train-mode BN statistics depend on the group), then the head once over every crop's trunk
// output (its BN normalises over all crops), normalised here in float64.
Crops embed_crops_head_over_all(ResNetImpl& backbone, ProjectionHeadImpl& head,
                                const MultiCropBatch& batch) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> trunk;
  for (const auto& [begin, end] : batch.size_groups) {
    std::vector<torch::Tensor> group(batch.crops.begin() + begin, batch.crops.begin() + end);
    trunk.push_back(backbone.forward(torch::cat(group)));
  }
  Rows all = to_rows(head.forward(torch::cat(trunk)));
  for (Vec& r : all) r = normalized(r);
  const size_t b = all.size() / batch.crops.size();
  Crops out;
  for (size_t v = 0; v < batch.crops.size(); ++v)
    out.emplace_back(all.begin() + static_cast<long>(v * b),
                     all.begin() + static_cast<long>((v + 1) * b));
  return out;
}

// Embeddings of every crop, crops of one size group through trunk and head together (MoCo v2's
// queries; its head has no BN).
Crops embed_crops(ResNetImpl& backbone, ProjectionHeadImpl& head, const MultiCropBatch& batch) {
  Crops out;
  for (const auto& [begin, end] : batch.size_groups) {
    std::vector<torch::Tensor> group(batch.crops.begin() + begin, batch.crops.begin() + end);
    Rows all = embed_rows(backbone, head, torch::cat(group));
    const size_t b = all.size() / static_cast<size_t>(end - begin);
    for (int64_t v = 0; v < end - begin; ++v)
      out.emplace_back(all.begin() + static_cast<long>(v * b),
                       all.begin() + static_cast<long>((v + 1) * b));
  }
  return out;
}

std::string save_method(Method& method) {
  torch::serialize::OutputArchive all, model, state;
  method.module().save(model);
  method.save_state(state);
  all.write("model", model);
  all.write("method", state);
  std::ostringstream bytes;
  all.save_to(bytes);
  return bytes.str();
}

void load_method(Method& method, const std::string& bytes) {
  std::istringstream in(bytes);
  torch::serialize::InputArchive all, model, state;
  all.load_from(in);
  all.read("model", model);
  all.read("method", state);
  method.module().load(model);
  method.load_state(state);
}

// The MoCo queue (D x K) and pointer as a saved state holds them.
std::pair<torch::Tensor, int64_t> saved_queue(Method& method) {
  std::istringstream in(save_method(method));
  torch::serialize::InputArchive all, state;
  all.load_from(in);
  all.read("method", state);
  torch::Tensor queue, ptr;
  state.read("moco_queue", queue);
  state.read("moco_queue_ptr", ptr);
  return {queue, ptr.item<int64_t>()};
}

TEST(SimclrMethod, RealStepMatchesTheReferenceAndIsNearLogNMinusOneAtInit) {
  torch::manual_seed(1);
  RunConfig config = small_config("simclr");
  EXPECT_DOUBLE_EQ(config.temperature, 0.2);  // the method's default
  auto method = build(config);
  method->module().train();
  MultiCropBatch batch = random_batch();
  StepOutput out = method->loss(batch, 0, 0);
  const double loss = out.loss.item<double>();
  ASSERT_TRUE(std::isfinite(loss));

  // Independent recomputation: embeddings from the method's own modules, loss by float64 loops.
  auto backbone = child<ResNetImpl>(method->module(), "backbone");
  auto head = child<ProjectionHeadImpl>(method->module(), "projection_head");
  // One head pass over all 4 crops (the authors' forward), not one per size group.
  EXPECT_EQ(head->named_buffers()["projection_head.1.num_batches_tracked"].item<int64_t>(), 1);
  const Crops z = embed_crops_head_over_all(*backbone, *head, batch);
  EXPECT_NEAR(loss, reference_nt_xent(z, config.temperature), 1e-5);

  // N = 4 crops x 8 images: an untrained network's embeddings give a softmax close to uniform
  // over the N - 1 candidates (seeds 1..8 gave 3.30..3.59 against ln 31 = 3.43).
  const double n = 4 * 8;
  EXPECT_NEAR(loss, std::log(n - 1), 0.3);
  EXPECT_DOUBLE_EQ(method->collapse_loss(), std::log(n - 1));
  ASSERT_TRUE(out.logs.count("positive_sim"));
  EXPECT_GE(out.logs["positive_sim"], -1.0);
  EXPECT_LE(out.logs["positive_sim"], 1.0);

  out.loss.backward();
  int64_t with_grad = 0;
  for (auto& [name, p] : method->trainable_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>()) << name;
    with_grad += p.grad().abs().sum().item<double>() > 0;
  }
  EXPECT_GT(with_grad, 0);
}

// The head's BatchNorm1d sees the trunk outputs of every crop at once (2 x 28 px and 2 x 14 px
// crops of 8 images: 32 rows), as in the authors' forward_head on the concatenation. Its running
// statistics after one step are checked against BN's update rule computed here in float64 from
// the trunk outputs and the head's first Linear layer: running = 0.9 x initial + 0.1 x batch.
TEST(SwavMethod, HeadBatchNormNormalisesOverEveryCropTogether) {
  torch::manual_seed(3);
  RunConfig config = small_config("swav");
  auto method = build(config);
  method->module().train();
  MultiCropBatch batch = random_batch();
  auto backbone = child<ResNetImpl>(method->module(), "backbone");
  auto head = child<ProjectionHeadImpl>(method->module(), "projection_head");

  torch::Tensor hidden;  // Linear1(trunk outputs of all crops), 32 x hidden, float64
  {
    torch::NoGradGuard no_grad;
    torch::Tensor trunk =
        torch::cat({backbone->forward(torch::cat({batch.crops[0], batch.crops[1]})),
                    backbone->forward(torch::cat({batch.crops[2], batch.crops[3]}))});
    auto params = head->named_parameters();
    hidden =
        torch::addmm(params["projection_head.0.bias"].to(torch::kDouble), trunk.to(torch::kDouble),
                     params["projection_head.0.weight"].to(torch::kDouble).t());
  }
  ASSERT_EQ(hidden.size(0), 32);
  StepOutput out = method->loss(batch, 0, 0);
  ASSERT_TRUE(std::isfinite(out.loss.item<double>()));

  auto buffers = head->named_buffers();
  EXPECT_EQ(buffers["projection_head.1.num_batches_tracked"].item<int64_t>(), 1);
  const Vec expected_mean = to_rows((0.1 * hidden.mean(0)).unsqueeze(0))[0];
  const Vec expected_var = to_rows((0.9 + 0.1 * hidden.var(0, /*unbiased=*/true)).unsqueeze(0))[0];
  const Vec mean = to_rows(buffers["projection_head.1.running_mean"].unsqueeze(0))[0];
  const Vec var = to_rows(buffers["projection_head.1.running_var"].unsqueeze(0))[0];
  ASSERT_EQ(mean.size(), expected_mean.size());
  double worst_mean = 0, worst_var = 0;
  for (size_t j = 0; j < mean.size(); ++j) {
    worst_mean = std::max(worst_mean, std::abs(mean[j] - expected_mean[j]));
    worst_var = std::max(worst_var, std::abs(var[j] - expected_var[j]) / expected_var[j]);
  }
  EXPECT_LT(worst_mean, 1e-5);
  EXPECT_LT(worst_var, 1e-5);

  // Per size group it would differ: two updates, the second from the small crops only.
  torch::Tensor per_group =
      0.9 * 0.1 * hidden.slice(0, 0, 16).mean(0) + 0.1 * hidden.slice(0, 16, 32).mean(0);
  EXPECT_GT((per_group - 0.1 * hidden.mean(0)).abs().max().item<double>(), 1e-3);
}

TEST(MocoMethod, BuildsKeyEncoderAsAFrozenCopyOutsideTheTrainableParameters) {
  torch::manual_seed(2);
  RunConfig config = small_config("moco");
  auto method = build(config);
  auto named = method->module().named_parameters();
  std::set<std::string> trainable;
  for (const auto& [name, p] : method->trainable_parameters()) {
    EXPECT_NE(name.rfind("key_encoder.", 0), 0u) << name;
    trainable.insert(name);
  }
  int64_t keys = 0;
  for (const auto& item : named) {
    const std::string& name = item.key();
    if (name.rfind("key_encoder.", 0) == 0) {
      ++keys;
      EXPECT_FALSE(item.value().requires_grad()) << name;
      // theta_k = theta_q at init.
      const std::string query_name = name.substr(std::string("key_encoder.").size());
      ASSERT_TRUE(named.contains(query_name)) << query_name;
      EXPECT_TRUE(torch::equal(item.value(), named[query_name])) << name;
    } else {
      EXPECT_TRUE(trainable.count(name)) << name << " is a query parameter";
    }
  }
  EXPECT_GT(keys, 0);
  EXPECT_EQ(static_cast<int64_t>(trainable.size()) + keys, static_cast<int64_t>(named.size()));
  // The MoCo v2 head has no BN.
  for (const auto& item : method->module().named_buffers())
    EXPECT_EQ(item.key().find("projection_head.projection_head.1.running"), std::string::npos)
        << item.key();
}

TEST(MocoMethod, RealStepLossQueueAndMomentum) {
  torch::manual_seed(3);
  RunConfig config = small_config("moco", {{"moco_momentum", 0.9}});
  EXPECT_DOUBLE_EQ(config.temperature, 0.2);
  auto method = build(config);
  method->module().train();
  const int64_t k = 32;
  EXPECT_DOUBLE_EQ(method->collapse_loss(), std::log(k + 1.0));

  auto [queue_before, ptr_before] = saved_queue(*method);
  ASSERT_EQ(queue_before.sizes(), (std::vector<int64_t>{config.feat_dim, k}));
  EXPECT_EQ(ptr_before, 0);

  MultiCropBatch batch = random_batch();
  StepOutput out = method->loss(batch, 0, 0);
  const double loss = out.loss.item<double>();
  ASSERT_TRUE(std::isfinite(loss));

  // Independent recomputation of the documented multi-crop loss.
  auto& root = method->module();
  const MocoParts parts = moco_parts(root);
  // Shuffling BN at batch 8: queries in groups of m = 4 consecutive samples (half the batch: the
  // authors' 32 does not fit twice), keys in the key groups of the step's shuffle
  // (baselines/shuffle_bn.h).
  const int64_t m = 4;
  ASSERT_EQ(shuffle_bn_group_size(0, 8, 8), m);
  Crops queries(batch.crops.size());
  for (int64_t begin = 0; begin < 8; begin += m) {
    MultiCropBatch part;
    part.size_groups = batch.size_groups;
    for (const auto& crop : batch.crops) part.crops.push_back(crop.slice(0, begin, begin + m));
    const Crops q = embed_crops(*parts.backbone, *parts.head, part);
    for (size_t v = 0; v < q.size(); ++v)
      queries[v].insert(queries[v].end(), q[v].begin(), q[v].end());
  }
  const std::vector<int64_t> order =
      shuffle_bn_key_order(8, m, shuffle_bn_seed(static_cast<uint64_t>(config.seed), 0));
  Rows k0(8), k1(8);
  for (int64_t begin = 0; begin < 8; begin += m) {
    const std::vector<int64_t> members(order.begin() + begin, order.begin() + begin + m);
    const torch::Tensor idx = torch::tensor(members);
    const Rows keys = embed_rows(
        *parts.key_backbone, *parts.key_head,
        torch::cat({batch.crops[0].index_select(0, idx), batch.crops[1].index_select(0, idx)}));
    for (int64_t j = 0; j < m; ++j) {
      k0[static_cast<size_t>(members[j])] = keys[static_cast<size_t>(j)];
      k1[static_cast<size_t>(members[j])] = keys[static_cast<size_t>(m + j)];
    }
  }
  const Rows negatives = to_rows(queue_before.t());
  EXPECT_NEAR(loss, reference_moco(queries, k0, k1, negatives, config.temperature), 1e-5);

  // At init the value is NOT near the collapse value ln(K + 1) = 3.50: the queue holds random
  // unit directions, whose cosines with a query are ~N(0, 1/D), while a query and its key are
  // two views through the same untrained network (cosine s+ ~ 0.9). Then
  //   loss ~ ln(1 + K E[exp((s_neg - s+)/T)]) = ln(1 + K exp(-s+/T + 1/(2 D T^2))),
  // about 0.37 here (seeds 1..8: 0.34..0.45, each within 0.04 of this prediction).
  ASSERT_TRUE(out.logs.count("positive_sim"));
  ASSERT_TRUE(out.logs.count("instance_top1"));
  const double s_pos = out.logs["positive_sim"];
  const double d = config.feat_dim, t = config.temperature;
  const double predicted = std::log(1 + k * std::exp(-s_pos / t + 1 / (2 * d * t * t)));
  EXPECT_NEAR(loss, predicted, 0.1) << "positive_sim " << s_pos;
  EXPECT_LT(loss, std::log(k + 1.0) - 1.0);

  // The step's crop-0 keys were enqueued at columns 0..7, ptr 8; the rest is untouched.
  auto [queue_after, ptr_after] = saved_queue(*method);
  EXPECT_EQ(ptr_after, 8);
  EXPECT_TRUE(
      torch::allclose(queue_after.narrow(1, 0, 8).t(), to_tensor(k0, torch::kFloat32), 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(queue_after.narrow(1, 8, k - 8), queue_before.narrow(1, 8, k - 8)));

  // Backward: the key encoder receives no gradient, the query side does.
  out.loss.backward();
  for (const auto& item : parts.key_encoder->named_parameters())
    EXPECT_FALSE(item.value().grad().defined()) << item.key();
  for (auto& [name, p] : method->trainable_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>()) << name;
  }

  // An SGD step on the query side, then after_step: theta_k = 0.9 theta_k + 0.1 theta_q.
  std::map<std::string, torch::Tensor> key_before, key_buffers_before;
  for (const auto& item : parts.key_encoder->named_parameters())
    key_before[item.key()] = item.value().clone();
  for (const auto& item : parts.key_encoder->named_buffers())
    key_buffers_before[item.key()] = item.value().clone();
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : method->trainable_parameters()) p.sub_(0.5 * p.grad());
  }
  method->after_step(0);
  auto query = root.named_parameters();
  int64_t moved = 0;
  for (const auto& item : parts.key_encoder->named_parameters()) {
    const torch::Tensor& q = query[item.key()];
    torch::Tensor expected = 0.9 * key_before[item.key()] + 0.1 * q;
    EXPECT_TRUE(torch::allclose(item.value(), expected, 1e-5, 1e-7)) << item.key();
    moved += !torch::equal(item.value(), key_before[item.key()]);
  }
  EXPECT_GT(moved, 0);
  for (const auto& item : parts.key_encoder->named_buffers())
    EXPECT_TRUE(torch::equal(item.value(), key_buffers_before[item.key()])) << item.key();

  // Checkpoint round trip: key encoder (with the model), queue and pointer.
  const std::string bytes = save_method(*method);
  torch::manual_seed(99);
  auto restored = build(config);
  load_method(*restored, bytes);
  auto restored_params = restored->module().named_parameters();
  for (const auto& item : root.named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), restored_params[item.key()])) << item.key();
  auto [queue_restored, ptr_restored] = saved_queue(*restored);
  EXPECT_EQ(ptr_restored, 8);
  EXPECT_TRUE(torch::equal(queue_restored, queue_after));
  // The restored key encoder is still frozen.
  for (const auto& [name, p] : restored->trainable_parameters())
    EXPECT_NE(name.rfind("key_encoder.", 0), 0u) << name;
  for (const auto& item : restored_params) {
    if (item.key().rfind("key_encoder.", 0) == 0) {
      EXPECT_FALSE(item.value().requires_grad()) << item.key();
    }
  }
}

TEST(MocoMethod, QueueLengthIsTrimmedAndMustHoldOneBatch) {
  auto trimmed = build(small_config("moco", {{"moco_queue", 36}}));  // batch 8 -> 32
  EXPECT_EQ(saved_queue(*trimmed).first.size(1), 32);
  EXPECT_THROW(build(small_config("moco", {{"moco_queue", 4}})), InputError);
}

// ---------------------------------------------------------------------------------------------
// MoCo's shuffling BN (baselines/shuffle_bn.h).

TEST(ShuffleBn, GroupSizeIsTheAuthorsPerGpuBatchOrTheLargestThatLeavesTwoGroups) {
  EXPECT_EQ(shuffle_bn_group_size(0, 256, 256), 32);    // one process, batch 256: 8 groups of 32
  EXPECT_EQ(shuffle_bn_group_size(0, 32, 64), 32);      // 2 ranks of 32: a group per rank
  EXPECT_EQ(shuffle_bn_group_size(0, 32, 256), 32);     // the authors' 8 GPUs x 32
  EXPECT_EQ(shuffle_bn_group_size(0, 1536, 1536), 32);  // 48 groups
  EXPECT_EQ(shuffle_bn_group_size(0, 8, 8), 4);         // at most half the batch: 2 groups
  EXPECT_EQ(shuffle_bn_group_size(0, 48, 48), 24);      // divisors of 48 up to 24
  EXPECT_EQ(shuffle_bn_group_size(0, 7, 7), 1);         // a prime batch: groups of one sample
  EXPECT_EQ(shuffle_bn_group_size(4, 8, 8), 4);         // an explicit size is kept
  try {
    shuffle_bn_group_size(3, 8, 16);
    ADD_FAILURE() << "3 does not divide 8";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "config key 'moco_bn_group' 3 must divide the batch each process trains on (8 = "
              "batch_size 16 / 2 processes); 0 picks a size that does");
  }
}

TEST(ShuffleBn, NoKeySharesItsBatchNormGroupWithItsQuerysGroupMates) {
  for (const auto& [batch, m] :
       std::vector<std::pair<int64_t, int64_t>>{{256, 16}, {64, 8}, {8, 2}, {48, 6}, {12, 3}}) {
    const int64_t groups = batch / m;
    for (uint64_t seed : {1u, 2u, 3u}) {
      const std::vector<int64_t> order = shuffle_bn_key_order(batch, m, seed);
      ASSERT_EQ(static_cast<int64_t>(order.size()), batch);
      std::vector<int64_t> sorted = order;
      std::sort(sorted.begin(), sorted.end());
      for (int64_t i = 0; i < batch; ++i) ASSERT_EQ(sorted[i], i) << "not a permutation";
      // Key group g = positions [g m, (g + 1) m); query group of sample i = i / m. With
      // m * m <= batch every key group holds at most one sample of each query group, so the
      // samples a key is normalised with and those its query is normalised with share only
      // the sample itself.
      for (int64_t g = 0; g < groups; ++g) {
        std::map<int64_t, int> per_query_group;
        for (int64_t j = g * m; j < (g + 1) * m; ++j) ++per_query_group[order[j] / m];
        for (const auto& [query_group, count] : per_query_group)
          EXPECT_EQ(count, 1) << "batch " << batch << " m " << m << " key group " << g << " has "
                              << count << " samples of query group " << query_group;
      }
    }
  }
  // Larger groups than that (the authors' 8 GPUs x 32): at most ceil(32 / 8) = 4 of a key
  // group's 32 samples come from any one query group (a random shuffle gives 4 on average).
  const std::vector<int64_t> order = shuffle_bn_key_order(256, 32, 7);
  for (int64_t g = 0; g < 8; ++g) {
    std::map<int64_t, int> per_query_group;
    for (int64_t j = g * 32; j < (g + 1) * 32; ++j) ++per_query_group[order[j] / 32];
    for (const auto& [query_group, count] : per_query_group) EXPECT_LE(count, 4) << g;
  }
}

TEST(ShuffleBn, KeyOrderIsAFunctionOfTheSeedAndOneGroupIsTheIdentity) {
  EXPECT_EQ(shuffle_bn_key_order(64, 8, 5), shuffle_bn_key_order(64, 8, 5));
  EXPECT_NE(shuffle_bn_key_order(64, 8, 5), shuffle_bn_key_order(64, 8, 6));
  EXPECT_NE(shuffle_bn_seed(3, 0), shuffle_bn_seed(3, 1));
  EXPECT_NE(shuffle_bn_seed(3, 0), shuffle_bn_seed(4, 0));
  std::vector<int64_t> identity(16);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(shuffle_bn_key_order(16, 16, 9), identity);
}

// The property in the network itself: with groups of 4 in a batch of 16 (m * m <= 16), changing
// the image of a sample j that shares i's query group changes i's query (BatchNorm statistics)
// but leaves i's key bit for bit the same; changing a sample of i's key group changes the key.
TEST(ShuffleBn, AQuerysGroupMatesDoNotReachItsKeyThroughBatchNorm) {
  torch::manual_seed(11);
  RunConfig config = small_config("moco", {{"batch_size", 16}, {"moco_bn_group", 4}});
  auto method = build(config);
  method->module().train();
  auto& root = method->module();
  const MocoParts parts = moco_parts(root);
  Encoder f_q = [&](const torch::Tensor& x) {
    return parts.head->forward(parts.backbone->forward(x));
  };
  Encoder f_k = [&](const torch::Tensor& x) {
    return parts.key_head->forward(parts.key_backbone->forward(x));
  };
  torch::NoGradGuard no_grad;
  const MultiCropBatch batch = random_batch(16);
  const std::vector<int64_t> order = shuffle_bn_key_order(16, 4, 21);
  const auto queries = encode_moco_queries(batch, 4, f_q);
  const auto [k0, k1] =
      encode_moco_keys(batch.crops[0], batch.crops[1], 4, order, local_collective(), f_k);

  const int64_t i = 5;  // query group 1 = samples 4..7
  int64_t position = 0;
  while (order[position] != i) ++position;
  const int64_t key_group = position / 4;
  int64_t key_mate = -1;  // another sample of i's key group (from another query group)
  for (int64_t j = key_group * 4; j < key_group * 4 + 4; ++j)
    if (order[j] != i) key_mate = order[j];
  ASSERT_GE(key_mate, 0);
  ASSERT_NE(key_mate / 4, i / 4);

  auto perturbed = [&](int64_t j) {
    MultiCropBatch changed = batch;
    for (auto& crop : changed.crops) {
      crop = crop.clone();
      crop[j] += 1.0;
    }
    return changed;
  };
  for (int64_t j : {4, 6, 7}) {  // i's query group mates
    const MultiCropBatch changed = perturbed(j);
    const auto q = encode_moco_queries(changed, 4, f_q);
    const auto [c0, c1] =
        encode_moco_keys(changed.crops[0], changed.crops[1], 4, order, local_collective(), f_k);
    EXPECT_GT((q[0][i] - queries[0][i]).abs().max().item<double>(), 1e-4) << j;
    EXPECT_TRUE(torch::equal(c0[i], k0[i])) << "sample " << j << " reached key " << i;
    EXPECT_TRUE(torch::equal(c1[i], k1[i])) << "sample " << j << " reached key " << i;
  }
  const MultiCropBatch changed = perturbed(key_mate);
  const auto [c0, c1] =
      encode_moco_keys(changed.crops[0], changed.crops[1], 4, order, local_collective(), f_k);
  EXPECT_GT((c0[i] - k0[i]).abs().max().item<double>(), 1e-4);
  // Keys come back in sample order: sample j's key is f_k of its own crops (in its key group).
  EXPECT_EQ(k0.size(0), 16);
}

// Two ranks (threads) holding halves of the batch compute the same keys, bit for bit, as one
// process: the shuffle across ranks puts every key group on one rank and the keys come back
// to their samples. The encoder is a pure batch-statistics function, so threads can share it.
TEST(ShuffleBn, TwoRanksComputeTheSingleProcessKeysAndRestoreTheOrder) {
  torch::manual_seed(12);
  const torch::Tensor x0 = torch::randn({16, 3}), x1 = torch::randn({16, 3});
  Encoder batch_norm_like = [](const torch::Tensor& x) {
    return (x - x.mean(0)) / (x.std(0) + 1e-3) + 0.01 * x;
  };
  const std::vector<int64_t> order = shuffle_bn_key_order(16, 4, 8);
  const auto [one0, one1] = encode_moco_keys(x0, x1, 4, order, local_collective(), batch_norm_like);
  std::vector<torch::Tensor> got0(2), got1(2);
  run_ranks(2, [&](int rank, Collective& collective) {
    auto [k0, k1] =
        encode_moco_keys(x0.slice(0, rank * 8, rank * 8 + 8), x1.slice(0, rank * 8, rank * 8 + 8),
                         4, order, collective, batch_norm_like);
    got0[static_cast<size_t>(rank)] = k0;
    got1[static_cast<size_t>(rank)] = k1;
  });
  EXPECT_TRUE(torch::equal(torch::cat(got0), one0));
  EXPECT_TRUE(torch::equal(torch::cat(got1), one1));
  // And the keys are each sample's own: recomputed group by group here.
  for (int64_t g = 0; g < 4; ++g) {
    std::vector<int64_t> members(order.begin() + g * 4, order.begin() + g * 4 + 4);
    const torch::Tensor idx = torch::tensor(members);
    const auto keys =
        batch_norm_like(torch::cat({x0.index_select(0, idx), x1.index_select(0, idx)}));
    for (int64_t j = 0; j < 4; ++j) {
      EXPECT_TRUE(torch::equal(one0[members[j]], keys[j])) << members[j];
      EXPECT_TRUE(torch::equal(one1[members[j]], keys[4 + j])) << members[j];
    }
  }
}

}  // namespace
}  // namespace swavbench
