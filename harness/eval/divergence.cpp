#include "harness/eval/divergence.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace swavbench {

std::string protocol_divergence(const std::vector<double>& train_loss_per_epoch, double best_top1,
                                int64_t num_classes) {
  const int epochs = static_cast<int>(train_loss_per_epoch.size());
  const double uniform_loss = std::log(static_cast<double>(std::max<int64_t>(2, num_classes)));
  for (int e = 0; e < epochs; ++e) {
    const double loss = train_loss_per_epoch[static_cast<size_t>(e)];
    if (!std::isfinite(loss))
      return fmt::format("the training loss became {} at epoch {} of {}", loss, e + 1, epochs);
    if (loss > kExplodedLossFactor * uniform_loss)
      return fmt::format(
          "the training loss exploded to {:.4g} at epoch {} of {} (more than {} x ln {} = {:.3g}, "
          "the loss of a uniform guess)",
          loss, e + 1, epochs, kExplodedLossFactor, num_classes,
          kExplodedLossFactor * uniform_loss);
  }
  const double chance = 100.0 / static_cast<double>(std::max<int64_t>(1, num_classes));
  if (!std::isfinite(best_top1) || best_top1 <= chance + 1e-9)
    return fmt::format(
        "the best top-1 over {} epoch(s), {:.2f}%, is at or below chance ({:.2f}% "
        "for {} classes)",
        epochs, best_top1, chance, num_classes);
  return "";
}

}  // namespace swavbench
