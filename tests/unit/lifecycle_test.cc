#include "server/lifecycle.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace slate {
namespace {

TEST(ShutdownStepsTest, StepsRunNewestFirstAndOnce) {
  std::vector<std::string> ran;
  {
    ShutdownSteps steps;
    steps.Defer("control API", [&] { ran.push_back("control API"); });
    steps.Defer("metrics", [&] { ran.push_back("metrics"); });
    steps.Defer("engine", [&] { ran.push_back("engine"); });
    steps.RunAll();
    EXPECT_EQ(ran, (std::vector<std::string>{"engine", "metrics", "control API"}));
    steps.Defer("health", [&] { ran.push_back("health"); });
  }  // the destructor runs what is left
  EXPECT_EQ(ran, (std::vector<std::string>{"engine", "metrics", "control API", "health"}));
}

TEST(StopRequestTest, TheEarliestDeadlineWins) {
  StopRequest stop;
  EXPECT_FALSE(stop.requested());
  EXPECT_EQ(stop.deadline(), absl::InfiniteFuture());
  const absl::Time before = absl::Now();
  stop.Request(absl::Hours(2));
  const absl::Time two_hours = stop.deadline();
  EXPECT_GE(two_hours, before + absl::Hours(2));
  stop.Request(absl::Hours(1));
  EXPECT_LT(stop.deadline(), two_hours);
  stop.Request();  // no deadline: the one given stands
  EXPECT_LT(stop.deadline(), two_hours);
  EXPECT_TRUE(stop.requested());
}

TEST(StopRequestTest, ARequestFromAnotherThreadEndsAWait) {
  StopRequest stop;
  EXPECT_FALSE(stop.WaitFor(absl::ZeroDuration()));
  std::thread requester([&] { stop.Request(); });
  EXPECT_TRUE(stop.WaitFor(absl::Seconds(60)));
  requester.join();
}

}  // namespace
}  // namespace slate
