#include "harness/train/collapse_alarm.h"

#include <fmt/format.h>

#include <cmath>
#include <string>
#include <utility>

namespace swavbench {

namespace {
constexpr double kOnePrototypeShare = 0.9;
}  // namespace

CollapseAlarm::CollapseAlarm(double collapse_loss, double margin, int patience, std::string advice)
    : collapse_loss_(collapse_loss),
      margin_(margin),
      patience_(patience),
      advice_(std::move(advice)) {}

std::optional<CollapseVerdict> CollapseAlarm::observe(double loss,
                                                      const std::map<std::string, double>& logs) {
  if (collapse_loss_ <= 0) return std::nullopt;
  const bool near_uniform = std::abs(loss - collapse_loss_) < margin_;
  auto share = logs.find("max_prototype_share");
  const bool one_prototype = share != logs.end() && share->second > kOnePrototypeShare;
  streak_ = (near_uniform || one_prototype) ? streak_ + 1 : 0;
  if (streak_ != patience_) return std::nullopt;
  // The share is named only where the method measures it (SwAV's codes): a contrastive
  // method's alarm has no prototypes, and a share it never had is not printed as 0.
  std::string reason =
      fmt::format("loss {:.4f} against the uniform prediction's {:.4f} (margin {}) for {} epochs",
                  loss, collapse_loss_, margin_, streak_);
  if (share != logs.end()) reason += fmt::format("; largest prototype share {:.2f}", share->second);
  return CollapseVerdict{std::move(reason), advice_};
}

}  // namespace swavbench
