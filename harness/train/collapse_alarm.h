// CollapseAlarm: the trainer's collapse detector, one epoch at a time. A method that can
// collapse to a trivial solution has a known loss there (SwAV: ln K, when every sample gets the
// same uniform code q and predicts it; the paper's Sec. 3.1 motivates the equipartition
// constraint by exactly this collapse). An epoch counts as collapsed when its mean loss is
// within `margin` of that loss, or when one prototype takes more than 90 % of the codes
// (`max_prototype_share` in the epoch's logs); `patience` collapsed epochs in a row raise the
// alarm, once. Torch-free, so it is tested on hand-made epochs.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace swavbench {

struct CollapseVerdict {
  std::string reason;  // what was seen, with the numbers
  std::string advice;  // what to try (the method's own advice)
};

class CollapseAlarm {
 public:
  // collapse_loss <= 0: the method has no collapse loss; observe never raises.
  CollapseAlarm(double collapse_loss, double margin, int patience, std::string advice);

  // One finished epoch: its mean loss and logs. Returns the verdict on the epoch that completes
  // `patience` collapsed epochs in a row; nothing on every other epoch.
  std::optional<CollapseVerdict> observe(double loss, const std::map<std::string, double>& logs);

  int streak() const { return streak_; }

 private:
  double collapse_loss_;
  double margin_;
  int patience_;
  std::string advice_;
  int streak_ = 0;
};

}  // namespace swavbench
