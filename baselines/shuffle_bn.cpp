#include "baselines/shuffle_bn.h"

#include <algorithm>
#include <numeric>

#include "harness/core/check.h"
#include "harness/core/splitmix.h"

namespace swavbench {
namespace {
constexpr uint64_t kShuffleBnStream = 0x4D6F436F42;  // "MoCoB": the shuffle's own stream
}  // namespace

int64_t shuffle_bn_group_size(int64_t requested, int64_t per_rank_batch, int64_t global_batch) {
  SB_CHECK(
      per_rank_batch > 0 && global_batch >= per_rank_batch && global_batch % per_rank_batch == 0,
      "shuffling BN: a per-rank batch of {} does not divide the global batch {}", per_rank_batch,
      global_batch);
  if (requested > 0) {
    SB_INPUT_CHECK(per_rank_batch % requested == 0,
                   "config key 'moco_bn_group' {} must divide the batch each process trains on "
                   "({} = batch_size {} / {} processes); 0 picks a size that does",
                   requested, per_rank_batch, global_batch, global_batch / per_rank_batch);
    return requested;
  }
  int64_t best = 1;
  for (int64_t m = 1; m <= std::min(kMocoGpuBatch, per_rank_batch) && 2 * m <= global_batch; ++m)
    if (per_rank_batch % m == 0) best = m;
  return best;
}

std::vector<int64_t> shuffle_bn_key_order(int64_t global_batch, int64_t group_size, uint64_t seed) {
  SB_CHECK(group_size > 0 && global_batch % group_size == 0,
           "shuffling BN: group size {} does not divide the batch {}", group_size, global_batch);
  const int64_t m = group_size, groups = global_batch / m;
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(global_batch));
  if (groups == 1) {
    order.resize(static_cast<size_t>(global_batch));
    std::iota(order.begin(), order.end(), 0);
    return order;
  }
  // member_at[a * m + s] = the member p of query group a with sigma_a(p) = s: Fisher-Yates per
  // query group on one SplitMix64 stream.
  SplitMix64 rng(seed);
  std::vector<int64_t> member_at(static_cast<size_t>(global_batch));
  for (int64_t a = 0; a < groups; ++a) {
    int64_t* members = member_at.data() + a * m;
    std::iota(members, members + m, a * m);
    for (int64_t i = m - 1; i > 0; --i)
      std::swap(members[i], members[rng.below(static_cast<uint64_t>(i + 1))]);
  }
  // Key group g takes, from each query group a, the members whose slot s has (a + s) mod G == g,
  // i.e. s = (g - a) mod G, (g - a) mod G + G, ...: exactly m members over all a.
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t a = 0; a < groups; ++a)
      for (int64_t s = ((g - a) % groups + groups) % groups; s < m; s += groups)
        order.push_back(member_at[a * m + s]);
  SB_CHECK(static_cast<int64_t>(order.size()) == global_batch, "shuffling BN: {} keys for {}",
           order.size(), global_batch);
  return order;
}

uint64_t shuffle_bn_seed(uint64_t run_seed, int64_t iteration) {
  return stream_seed(run_seed, kShuffleBnStream, static_cast<uint64_t>(iteration));
}

}  // namespace swavbench
