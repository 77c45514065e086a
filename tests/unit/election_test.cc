#include "server/core/election.h"

#include <atomic>
#include <memory>
#include <thread>

#include "gtest/gtest.h"

#include "tests/support/fake_clock.h"

namespace slate::core {
namespace {

using slate::testing::FakeClock;

constexpr absl::Duration kWait = absl::Seconds(20);  // real-time bound for a condition

// The source's lock table: one holder at a time.
struct FakeLockServer {
  absl::Mutex mu;
  int holder ABSL_GUARDED_BY(mu) = 0;  // 0: free
  bool down ABSL_GUARDED_BY(mu) = false;
};

class FakeLeaderLock : public LeaderLock {
 public:
  FakeLeaderLock(FakeLockServer& server, int id) : server_(server), id_(id) {}
  absl::Status Connect() override {
    absl::MutexLock lock(&server_.mu);
    if (server_.down) return absl::UnavailableError("fake: source down");
    return absl::OkStatus();
  }
  void Close() override {
    absl::MutexLock lock(&server_.mu);
    if (server_.holder == id_) server_.holder = 0;
  }
  void Interrupt() override {}
  absl::StatusOr<bool> TryTake() override {
    absl::MutexLock lock(&server_.mu);
    if (server_.down) return absl::UnavailableError("fake: source down");
    if (server_.holder == 0) server_.holder = id_;
    return server_.holder == id_;
  }
  absl::Status Confirm() override {
    absl::MutexLock lock(&server_.mu);
    if (server_.down) return absl::UnavailableError("fake: no answer");
    return server_.holder == id_ ? absl::OkStatus() : absl::AbortedError("fake: lock lost");
  }
  absl::StatusOr<std::string> Holder() override {
    absl::MutexLock lock(&server_.mu);
    return server_.holder == 0 ? std::string() : "instance " + std::to_string(server_.holder);
  }

 private:
  FakeLockServer& server_;
  const int id_;
};

// One instance: an election with counters for its callbacks.
struct Instance {
  Instance(FakeLockServer& server, int id, const Clock& clock)
      : election(ElectionOptions{}, std::make_unique<FakeLeaderLock>(server, id), clock,
                 ElectionCallbacks{[this] { ++actives; }, [this] { ++standbys; }}),
        thread([this] { election.Run(); }) {}
  ~Instance() {
    election.Stop();
    thread.join();
  }
  std::atomic<int> actives{0};
  std::atomic<int> standbys{0};
  Election election;
  std::thread thread;
};

bool Eventually(const std::function<bool()>& pred, FakeClock* clock = nullptr) {
  const absl::Time give_up = absl::Now() + kWait;
  while (absl::Now() < give_up) {
    if (pred()) return true;
    if (clock != nullptr) clock->AdvanceToNextDeadline();
    std::this_thread::yield();
  }
  return pred();
}

TEST(ElectionTest, OneOfThreeIsActiveAndTheOthersKnowWho) {
  FakeClock clock;
  FakeLockServer server;
  Instance a(server, 1, clock), b(server, 2, clock), c(server, 3, clock);
  ASSERT_TRUE(Eventually(
      [&] {
        int knowing = 0;
        for (Instance* i : {&a, &b, &c}) knowing += i->election.state().holder.empty() ? 0 : 1;
        return a.actives + b.actives + c.actives == 1 && knowing == 2;
      },
      &clock));
  int active_count = 0;
  for (Instance* i : {&a, &b, &c}) {
    if (i->election.state().role == Role::kActive) {
      ++active_count;
      EXPECT_NE(i->election.state().last_takeover, absl::InfinitePast());
    } else {
      absl::MutexLock lock(&server.mu);
      EXPECT_EQ(i->election.state().holder, "instance " + std::to_string(server.holder));
    }
  }
  EXPECT_EQ(active_count, 1);
}

TEST(ElectionTest, AStandbyTakesOverWhenTheActiveReleases) {
  FakeClock clock;
  FakeLockServer server;
  auto a = std::make_unique<Instance>(server, 1, clock);
  ASSERT_TRUE(Eventually([&] { return a->actives == 1; }, &clock));
  Instance b(server, 2, clock);
  ASSERT_TRUE(Eventually([&] { return !b.election.state().holder.empty(); }, &clock));
  EXPECT_EQ(b.election.state().role, Role::kStandby);
  a.reset();  // stops: on_standby runs, then the lock is released
  ASSERT_TRUE(Eventually([&] { return b.actives == 1; }, &clock));
  EXPECT_EQ(b.election.state().role, Role::kActive);
}

TEST(ElectionTest, AnActiveThatCannotConfirmFencesItselfAndComesBackAsAStandby) {
  FakeClock clock;
  FakeLockServer server;
  Instance a(server, 1, clock);
  ASSERT_TRUE(Eventually([&] { return a.actives == 1; }, &clock));
  {
    absl::MutexLock lock(&server.mu);
    server.down = true;  // its next confirmation fails
  }
  // It stopped writing, then let go of its session (and so of the lock).
  ASSERT_TRUE(Eventually(
      [&] {
        absl::MutexLock lock(&server.mu);
        return a.standbys == 1 && server.holder == 0;
      },
      &clock));
  EXPECT_EQ(a.election.state().role, Role::kStandby);
  // The error that fenced it, or that of a reconnect since (the source is still down).
  EXPECT_NE(a.election.state().last_error.find("fake: "), std::string::npos)
      << a.election.state().last_error;
  {
    absl::MutexLock lock(&server.mu);
    server.down = false;
  }
  ASSERT_TRUE(Eventually([&] { return a.actives == 2; }, &clock));  // elected again
  EXPECT_EQ(a.standbys, 1);
}

TEST(ElectionTest, LosingTheLockToAnotherFencesAtTheNextConfirmation) {
  FakeClock clock;
  FakeLockServer server;
  Instance a(server, 1, clock);
  ASSERT_TRUE(Eventually([&] { return a.actives == 1; }, &clock));
  {
    absl::MutexLock lock(&server.mu);
    server.holder = 9;  // the server ended its session and another instance took the lock
  }
  ASSERT_TRUE(Eventually([&] { return a.standbys == 1; }, &clock));
  EXPECT_EQ(a.election.state().role, Role::kStandby);
  ASSERT_TRUE(Eventually([&] { return a.election.state().holder == "instance 9"; }, &clock));
  EXPECT_EQ(a.actives, 1);
}

}  // namespace
}  // namespace slate::core
