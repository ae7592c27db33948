#include "harness/train/collapse_alarm.h"

#include <fmt/format.h>

#include <cmath>

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
  return CollapseVerdict{
      fmt::format("loss {:.4f} against ln(K) = {:.4f} (margin {}) for {} epochs; largest "
                  "prototype share {:.2f}",
                  loss, collapse_loss_, margin_, streak_,
                  share != logs.end() ? share->second : 0.0),
      advice_};
}

}  // namespace swavbench
