// CollapseAlarm on hand-made epochs: the streak, the one-time alarm at `patience`, the reset on
// a healthy epoch, the one-prototype rule, the verdict's numbers, and methods without a
// collapse loss.
#include <gtest/gtest.h>

#include <cmath>

#include "harness/train/collapse_alarm.h"

namespace swavbench {
namespace {

const double kLnK = std::log(100.0);  // SwAV's loss at collapse with K = 100 prototypes

TEST(CollapseAlarm, RaisesOnceWhenPatienceEpochsInARowSitAtTheCollapseLoss) {
  CollapseAlarm alarm(kLnK, /*margin=*/0.05, /*patience=*/2, "freeze the prototypes longer");
  EXPECT_FALSE(alarm.observe(3.0, {}));          // healthy
  EXPECT_FALSE(alarm.observe(kLnK - 0.01, {}));  // collapsed, streak 1
  EXPECT_EQ(alarm.streak(), 1);
  std::optional<CollapseVerdict> verdict = alarm.observe(kLnK + 0.02, {});  // streak 2
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->advice, "freeze the prototypes longer");
  EXPECT_EQ(verdict->reason,
            "loss 4.6252 against the uniform prediction's 4.6052 (margin 0.05) for 2 epochs");
  EXPECT_FALSE(alarm.observe(kLnK, {}));  // streak 3: the alarm was raised already
  EXPECT_EQ(alarm.streak(), 3);
}

TEST(CollapseAlarm, AHealthyEpochResetsTheStreak) {
  CollapseAlarm alarm(kLnK, 0.05, 2, "");
  EXPECT_FALSE(alarm.observe(kLnK, {}));
  EXPECT_FALSE(alarm.observe(kLnK - 0.051, {}));  // just outside the margin
  EXPECT_EQ(alarm.streak(), 0);
  EXPECT_FALSE(alarm.observe(kLnK, {}));
  EXPECT_TRUE(alarm.observe(kLnK, {}));
}

TEST(CollapseAlarm, OnePrototypeTakingMoreThan90PercentCountsAsCollapsed) {
  CollapseAlarm alarm(kLnK, 0.05, 2, "advice");
  EXPECT_FALSE(alarm.observe(2.0, {{"max_prototype_share", 0.95}}));
  EXPECT_EQ(alarm.streak(), 1);
  std::optional<CollapseVerdict> verdict = alarm.observe(2.0, {{"max_prototype_share", 0.91}});
  ASSERT_TRUE(verdict);
  EXPECT_NE(verdict->reason.find("largest prototype share 0.91"), std::string::npos);
  CollapseAlarm spread(kLnK, 0.05, 1, "");
  EXPECT_FALSE(spread.observe(2.0, {{"max_prototype_share", 0.9}}));  // 0.9 is not above 0.9
}

TEST(CollapseAlarm, AMethodWithoutACollapseLossNeverRaises) {
  CollapseAlarm alarm(/*collapse_loss=*/0, 0.05, 1, "");
  EXPECT_FALSE(alarm.observe(0.0, {{"max_prototype_share", 1.0}}));
  EXPECT_EQ(alarm.streak(), 0);
}

}  // namespace
}  // namespace swavbench
