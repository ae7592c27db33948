// Divergence of the supervised training inside an evaluation protocol (the linear probe, the
// semi-supervised fine-tuning), torch-free. A diverged protocol is recorded as diverged with its
// reason, never as a number: an accuracy at chance from a run whose loss went to NaN measures
// the protocol's learning rate, not the representation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace swavbench {

// Why a protocol's training diverged, or "" when it did not. Given the mean training loss of
// each epoch, the best test top-1 (%) over the epochs and the number of classes C:
//   * a non-finite epoch loss ("the training loss became nan at epoch 3 of 20");
//   * an epoch loss above kExplodedLossFactor x ln C, the cross-entropy of a uniform guess
//     (a fresh head starts near ln C; SGD that overshoots grows it by orders of magnitude);
//   * a best top-1 at or below chance (100 / C %) over every epoch.
// Epochs are named 1-based, as the progress lines print them.
std::string protocol_divergence(const std::vector<double>& train_loss_per_epoch, double best_top1,
                                int64_t num_classes);

constexpr double kExplodedLossFactor = 5.0;

}  // namespace swavbench
