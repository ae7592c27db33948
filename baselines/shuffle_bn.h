// MoCo's shuffling BatchNorm (He et al. 2020, "Momentum Contrast", Sec. 3.3) as groups of
// samples, torch-free: which samples share BatchNorm statistics in the query encoder f_q, and
// which in the key encoder f_k.
//
// The authors train on 8 GPUs with per-GPU BN: a query is normalised with the 31 other samples
// of its GPU, and its key, after the batch is shuffled across GPUs, with a different random set.
// Without the shuffle a query and its positive key are normalised with the same samples, and the
// network can match them by that batch's statistics instead of by content (the "leak"). Here the
// same grouping is made explicit, so that one process and N processes compute the same thing:
//
//   * query side: the global batch of B samples in G = B / m groups of m consecutive samples
//     (sample i in group i / m); a rank holds B_rank / m whole groups (ranks hold consecutive
//     slices of the global batch), and f_q runs once per group, so BN sees m samples at a time;
//   * key side: the same B samples regrouped. Member p of query group a gets slot s = sigma_a(p),
//     sigma_a a permutation of the m slots drawn afresh each step, and goes to key group
//     (a + s) mod G. Every key group then holds exactly m samples, at most ceil(m / G) of them
//     from any one query group: for m * m <= B, a sample's key is normalised with none of the
//     samples its query was normalised with. f_k runs once per key group (a rank encodes the
//     key groups at its own positions of the shuffled batch), and the keys are unshuffled.
#pragma once

#include <cstdint>
#include <vector>

namespace swavbench {

// The BN group size m for a per-rank batch and a global batch (global = per_rank x ranks).
// `requested` 0: the authors' 32 (MoCo v2's 256 over 8 GPUs), or the largest divisor of the
// per-rank batch below it that leaves at least two groups (16 at batch 32, 4 at 8). At 256 a
// key then shares at most 4 of its 32 group mates with its query's group (a random shuffle
// gives 4 on average); none once m * m <= global (32 at 1024). `requested` > 0: that size,
// which must divide the per-rank batch (an InputError says so otherwise).
constexpr int64_t kMocoGpuBatch = 32;
int64_t shuffle_bn_group_size(int64_t requested, int64_t per_rank_batch, int64_t global_batch);

// The shuffled key batch: position j (0 <= j < global_batch) holds sample key_order[j]; key
// group g is positions [g * m, (g + 1) * m). A permutation of 0 .. global_batch - 1, a function
// of `seed` alone (draw it from the run's seed and the iteration, so a resumed run shuffles as
// an uninterrupted one). group_size == global_batch (one group) is the identity.
std::vector<int64_t> shuffle_bn_key_order(int64_t global_batch, int64_t group_size, uint64_t seed);

// The seed of the shuffle at `iteration` of a run seeded `run_seed`.
uint64_t shuffle_bn_seed(uint64_t run_seed, int64_t iteration);

}  // namespace swavbench
