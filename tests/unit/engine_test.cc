#include "server/core/engine.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

#include "server/core/copy_pass.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fakes.h"

namespace slate::testing {
namespace {

// Engine time is a FakeClock: retries, polls, hole deadlines and the stall watchdog move only
// when a test advances it. kWait bounds (in real time) how long a test waits for a state.
constexpr absl::Duration kWait = absl::Seconds(20);

// Copies all of `source` into `sink` with the real pass (to prepare a destination).
void CopyAll(const FakeSourceDb& source, FakeSinkDb& sink) {
  class NoStop : public core::PassObserver {
    bool StopRequested() override { return false; }
    void OnBatchStart(int64_t) override {}
    void OnBatchCommitted(int64_t, int64_t, int64_t) override {}
  } observer;
  FakeEventSource src(source);
  FakeEventSink dst(sink);
  ASSERT_TRUE(core::RunCopyPass(src, {&dst}, 0, {}, observer).ok());
}

class EngineTest : public ::testing::Test {
 protected:
  void Build(int destinations, absl::Duration stall_timeout = absl::ZeroDuration()) {
    std::vector<core::DestinationSetup> setups;
    for (int i = 0; i < destinations; ++i) setups.push_back(NewSetup("d" + std::to_string(i)));
    BuildWith(std::move(setups), stall_timeout);
  }
  void BuildWith(std::vector<core::DestinationSetup> setups,
                 absl::Duration stall_timeout = absl::ZeroDuration()) {
    auto wakeups = std::make_unique<FakeWakeups>();
    wakeups_ = wakeups.get();
    options_.max_events_per_write = 10;
    options_.poll_interval = absl::Hours(1);  // passes come from wake-ups only
    options_.initial_retry_delay = absl::Seconds(1);
    options_.max_retry_delay = absl::Seconds(8);
    options_.listen_wait = absl::Milliseconds(20);  // real time: the fake listener's poll
    options_.stall_timeout = stall_timeout;
    engine_ = std::make_unique<core::Engine>(options_, "fake/source", std::move(wakeups),
                                             std::move(setups), clock_);
  }

  // A destination on a new fake database (sinks_.back()).
  core::DestinationSetup NewSetup(const std::string& name) {
    sinks_.push_back(std::make_unique<FakeSinkDb>());
    core::DestinationSetup s;
    s.name = name;
    s.dsn = "fake/" + s.name;
    s.source = std::make_unique<FakeEventSource>(source_);
    s.sink = std::make_unique<FakeEventSink>(*sinks_.back());
    return s;
  }

  // The status row of the destination named `name` (default when absent).
  static core::DestinationStatus Row(const core::EngineStatus& s, const std::string& name) {
    for (const core::DestinationStatus& d : s.destinations) {
      if (d.name == name) return d;
    }
    return {};
  }
  bool AwaitNamed(const std::string& name, int64_t position, core::DestinationState state) {
    return engine_->board().Await(
        [&](const core::EngineStatus& s) {
          const core::DestinationStatus d = Row(s, name);
          return d.name == name && d.position == position && d.state == state;
        },
        kWait);
  }
  static int Connects(FakeSinkDb& db) {
    absl::MutexLock lock(&db.faults().mu);
    return db.faults().connects;
  }
  static bool Connected(FakeSinkDb& db) {
    absl::MutexLock lock(&db.faults().mu);
    return db.faults().connected;
  }
  static void AwaitHolding(FakeSinkDb& db) {
    Faults& f = db.faults();
    absl::MutexLock lock(&f.mu);
    auto holding = [&f]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(f.mu) { return f.holding; };
    ASSERT_TRUE(f.mu.AwaitWithTimeout(absl::Condition(&holding), kWait));
  }
  static void Release(FakeSinkDb& db) {
    absl::MutexLock lock(&db.faults().mu);
    db.faults().release = true;
  }

  // Waits (real time, bounded) until `n` engine threads wait on the clock.
  bool AwaitClockWaiters(int n) {
    const absl::Time give_up = absl::Now() + kWait;
    while (clock_.waiters() < n) {
      if (absl::Now() > give_up) return false;
      std::this_thread::yield();
    }
    return true;
  }

  // Waits for pred, moving the engine's time to the next deadline any engine thread waits for
  // whenever pred does not hold yet (retries, hole deadlines, watchdog ticks).
  bool DriveUntil(const std::function<bool(const core::EngineStatus&)>& pred) {
    const absl::Time give_up = absl::Now() + kWait;
    uint64_t version = 0;
    while (absl::Now() < give_up) {
      if (pred(engine_->Snapshot())) return true;
      clock_.AdvanceToNextDeadline();
      engine_->board().AwaitChange(&version, absl::Milliseconds(10));
    }
    return pred(engine_->Snapshot());
  }

  bool AwaitPosition(size_t dest, int64_t position) {
    return engine_->board().Await(
        [&](const core::EngineStatus& s) {
          return s.destinations[dest].position == position &&
                 s.destinations[dest].state == core::DestinationState::kInSync;
        },
        kWait);
  }
  bool AwaitState(size_t dest, core::DestinationState state) {
    return engine_->board().Await(
        [&](const core::EngineStatus& s) { return s.destinations[dest].state == state; }, kWait);
  }
  void WakeWith(int64_t id) {
    wakeups_->Push({"{\"table\" : \"events\", \"id\" : " + std::to_string(id) + "}"});
  }

  FakeClock clock_;
  FakeSourceDb source_;
  std::vector<std::unique_ptr<FakeSinkDb>> sinks_;
  FakeWakeups* wakeups_ = nullptr;
  core::EngineOptions options_;
  std::unique_ptr<core::Engine> engine_;
};

TEST_F(EngineTest, CatchesUpEveryDestinationThenFollowsNotifications) {
  for (int i = 0; i < 20; ++i) source_.AddTransaction(7);
  Build(2);
  engine_->Start();
  ASSERT_TRUE(AwaitPosition(0, 140));
  ASSERT_TRUE(AwaitPosition(1, 140));
  source_.AddTransaction(3);
  WakeWith(143);
  ASSERT_TRUE(AwaitPosition(0, 143));
  ASSERT_TRUE(AwaitPosition(1, 143));
  const core::EngineStatus s = engine_->Snapshot();
  EXPECT_EQ(s.source.max_id, 143);
  EXPECT_EQ(s.destinations[0].lag_events, 0);
  EXPECT_EQ(s.destinations[0].lag_seconds, 0);
  EXPECT_EQ(s.destinations[0].events_total, 143);
  EXPECT_GT(s.destinations[0].bytes_total, 0);
  EXPECT_EQ(sinks_[1]->Rows().size(), 143u);
  engine_->RequestStop();
  engine_->Join();
  EXPECT_EQ(engine_->Snapshot().destinations[0].state, core::DestinationState::kStopped);
}

TEST_F(EngineTest, AnUnreachableDestinationDoesNotHoldBackTheOther) {
  for (int i = 0; i < 10; ++i) source_.AddTransaction(5);
  Build(2);
  {
    absl::MutexLock lock(&sinks_[1]->faults().mu);
    sinks_[1]->faults().outage = absl::UnavailableError("destination down");
  }
  engine_->Start();
  ASSERT_TRUE(AwaitPosition(0, 50));
  // Three failed attempts, and the loop asleep until its next one (time moves only here).
  ASSERT_TRUE(DriveUntil([this](const core::EngineStatus& st) {
    const core::DestinationStatus& d = st.destinations[1];
    return d.retries_total >= 3 && d.state == core::DestinationState::kConnecting &&
           d.next_retry > clock_.Now();
  }));
  core::EngineStatus s = engine_->Snapshot();
  // Never connected yet: it shows `connecting`, with the last error and the next retry.
  EXPECT_EQ(s.destinations[1].state, core::DestinationState::kConnecting);
  EXPECT_NE(s.destinations[1].last_error.find("destination down"), std::string::npos);
  EXPECT_EQ(s.destinations[1].position, 0);
  EXPECT_EQ(s.destinations[1].lag_events, 50);
  // The next retry is on the capped backoff, in the engine's time: 1 s, 2 s, 4 s, ...
  EXPECT_GT(s.destinations[1].next_retry, clock_.Now());
  EXPECT_LE(s.destinations[1].next_retry, clock_.Now() + options_.max_retry_delay);
  {
    absl::MutexLock lock(&sinks_[1]->faults().mu);
    sinks_[1]->faults().outage = absl::OkStatus();
  }
  // Catches up on its own at the next retry, no restart.
  ASSERT_TRUE(DriveUntil([](const core::EngineStatus& st) {
    return st.destinations[1].position == 50 &&
           st.destinations[1].state == core::DestinationState::kInSync;
  }));
  EXPECT_EQ(engine_->Snapshot().destinations[1].retries, 0);
}

TEST_F(EngineTest, DeferredStartupChecksRunWhenTheDestinationAnswers) {
  for (int i = 0; i < 4; ++i) source_.AddTransaction(5);
  Build(2);
  // Rebuild with start-up checks: d0's does not answer twice, then passes; d1's answers with a
  // definitive failure.
  std::vector<core::DestinationSetup> setups;
  std::atomic<int> d0_calls{0};
  for (int i = 0; i < 2; ++i) {
    core::DestinationSetup s;
    s.name = "d" + std::to_string(i);
    s.source = std::make_unique<FakeEventSource>(source_);
    s.sink = std::make_unique<FakeEventSink>(*sinks_[static_cast<size_t>(i)]);
    setups.push_back(std::move(s));
  }
  setups[0].startup_check = [&d0_calls]() -> absl::Status {
    if (++d0_calls <= 2) return absl::UnavailableError("connection refused");
    return absl::OkStatus();
  };
  setups[1].startup_check = [] {
    return absl::InvalidArgumentError("start-up checks failed: password authentication failed");
  };
  auto wakeups = std::make_unique<FakeWakeups>();
  wakeups_ = wakeups.get();
  engine_ = std::make_unique<core::Engine>(options_, "fake/source", std::move(wakeups),
                                           std::move(setups), clock_);
  engine_->Start();
  ASSERT_TRUE(AwaitState(1, core::DestinationState::kFailed));
  EXPECT_NE(engine_->Snapshot().destinations[1].last_error.find("password authentication failed"),
            std::string::npos);
  ASSERT_TRUE(DriveUntil([](const core::EngineStatus& st) {
    return st.destinations[0].position == 20 &&
           st.destinations[0].state == core::DestinationState::kInSync;
  }));
  EXPECT_EQ(d0_calls.load(), 3);  // run until it passed, then never again
  EXPECT_EQ(engine_->Snapshot().destinations[0].retries_total, 2);
  EXPECT_EQ(sinks_[1]->Position(), 0);  // the failed one was never written
}

TEST_F(EngineTest, AnIdleDestinationThatGoesAwayIsNoticed) {
  source_.AddTransaction(3);
  Build(1);
  engine_->Start();
  ASSERT_TRUE(AwaitPosition(0, 3));
  {
    absl::MutexLock lock(&sinks_[0]->faults().mu);
    sinks_[0]->faults().outage = absl::UnavailableError("gone while idle");
  }
  WakeWith(3);  // a pass with nothing to copy
  ASSERT_TRUE(AwaitState(0, core::DestinationState::kRetrying));
  EXPECT_NE(engine_->Snapshot().destinations[0].last_error.find("gone while idle"),
            std::string::npos);
}

TEST_F(EngineTest, ABrokenInvariantFailsOnlyThatDestination) {
  for (int i = 0; i < 4; ++i) source_.AddTransaction(5);
  Build(2);
  // Destination 1 already holds more than the source has: it is ahead.
  {
    FakeSourceDb bigger;
    for (int i = 0; i < 6; ++i) bigger.AddTransaction(5);
    CopyAll(bigger, *sinks_[1]);
  }
  engine_->Start();
  ASSERT_TRUE(AwaitState(1, core::DestinationState::kFailed));
  ASSERT_TRUE(AwaitPosition(0, 20));
  EXPECT_NE(engine_->Snapshot().destinations[1].last_error.find("ahead of the source"),
            std::string::npos);
  source_.AddTransaction(2);
  WakeWith(22);
  ASSERT_TRUE(AwaitPosition(0, 22));
  EXPECT_EQ(sinks_[1]->Position(), 30);  // untouched
}

TEST_F(EngineTest, ADestinationOfAnotherSourceFailsOnConnect) {
  for (int i = 0; i < 4; ++i) source_.AddTransaction(5);
  Build(2);
  {
    FakeSourceDb other;
    other.AddRow(1, 5);
    other.AddRow(2, 5);
    CopyAll(other, *sinks_[0]);
  }
  engine_->Start();
  ASSERT_TRUE(AwaitState(0, core::DestinationState::kFailed));
  ASSERT_TRUE(AwaitPosition(1, 20));
  EXPECT_NE(engine_->Snapshot().destinations[0].last_error.find("copy of another source"),
            std::string::npos);
  EXPECT_EQ(sinks_[0]->Position(), 2);  // untouched
  // Failed for good: its loop has ended, so a wake-up does not bring it back to `connecting`.
  source_.AddTransaction(1);
  WakeWith(21);
  ASSERT_TRUE(AwaitPosition(1, 21));
  const core::EngineStatus s = engine_->Snapshot();
  EXPECT_EQ(s.destinations[0].state, core::DestinationState::kFailed);
  EXPECT_EQ(s.destinations[0].errors_by_kind.at("data_loss"), 1);
}

TEST_F(EngineTest, ANotificationStormCostsAHandfulOfPasses) {
  Build(1);
  engine_->Start();
  ASSERT_TRUE(AwaitPosition(0, 0));
  const int64_t passes_before = engine_->Snapshot().source.passes_total;
  source_.AddTransaction(10000);
  std::vector<std::string> storm;
  for (int id = 1; id <= 10000; ++id) {
    storm.push_back("{\"table\" : \"events\", \"id\" : " + std::to_string(id) + "}");
  }
  wakeups_->Push(std::move(storm));  // one drain of the socket, as libpq delivers a burst
  ASSERT_TRUE(AwaitPosition(0, 10000));
  ASSERT_TRUE(engine_->board().Await(
      [](const core::EngineStatus& st) { return st.source.notifications_total == 10000; }, kWait));
  const core::EngineStatus s = engine_->Snapshot();
  EXPECT_EQ(s.source.notifications_total, 10000);
  EXPECT_LE(s.source.passes_total - passes_before, 3);
}

TEST_F(EngineTest, MalformedPayloadsAreCountedAndStillWakeUp) {
  Build(1);
  engine_->Start();
  ASSERT_TRUE(AwaitPosition(0, 0));
  source_.AddTransaction(4);
  wakeups_->Push({"not json", "{\"table\": \"other\", \"id\": 9}", "{\"id\": \"x\"}"});
  ASSERT_TRUE(AwaitPosition(0, 4));
  EXPECT_EQ(engine_->Snapshot().source.malformed_notifications_total, 3);
}

TEST_F(EngineTest, ALostListenerReconnectsAndRunsAFullPass) {
  Build(1);
  engine_->Start();
  ASSERT_TRUE(AwaitPosition(0, 0));
  source_.AddTransaction(6);  // committed while the listener is away: no notification for it
  wakeups_->Disconnect();
  // The listener waits out its backoff (engine time) beside the destination's hour-long poll;
  // the earliest deadline is the listener's, so the pass that follows is its wake-up.
  ASSERT_TRUE(AwaitClockWaiters(2));
  ASSERT_TRUE(clock_.AdvanceToNextDeadline());
  ASSERT_TRUE(AwaitPosition(0, 6));
  EXPECT_GE(wakeups_->connects(), 2);
}

TEST_F(EngineTest, AHoleIsHeldAndReported) {
  source_.AddRow(1, 10);
  source_.AddRow(2, 11);
  source_.AddRow(4, 12);
  Build(1);
  engine_->Start();
  ASSERT_TRUE(AwaitState(0, core::DestinationState::kWaitingAtHole));
  core::EngineStatus s = engine_->Snapshot();
  EXPECT_EQ(s.destinations[0].position, 2);
  EXPECT_EQ(s.destinations[0].hole_at, 3);
  // Lag in seconds ages with the oldest event it lacks that the source shows (id 4).
  EXPECT_EQ(s.destinations[0].lag_events, 2);
  EXPECT_DOUBLE_EQ(s.destinations[0].lag_seconds,
                   absl::ToDoubleSeconds(clock_.Now() - core::EventTime(12)));
  clock_.Advance(absl::Seconds(10));
  EXPECT_DOUBLE_EQ(engine_->Snapshot().destinations[0].lag_seconds,
                   absl::ToDoubleSeconds(clock_.Now() - core::EventTime(12)));
  EXPECT_GT(engine_->Snapshot().destinations[0].lag_seconds, s.destinations[0].lag_seconds + 9);
  source_.AddRow(3, 13);
  WakeWith(3);
  ASSERT_TRUE(AwaitPosition(0, 4));
  EXPECT_EQ(engine_->Snapshot().destinations[0].hole_at, 0);
}

TEST_F(EngineTest, SkipHolesAfterIsTheExplicitOptInToPassAHole) {
  source_.AddRow(1, 10);
  source_.AddRow(3, 11);
  Build(1);
  // Rebuild with the opt-in: skip a hole once it has been waited at for 30 minutes.
  std::vector<core::DestinationSetup> setups;
  core::DestinationSetup s;
  s.name = "d0";
  s.source = std::make_unique<FakeEventSource>(source_);
  s.sink = std::make_unique<FakeEventSink>(*sinks_[0]);
  setups.push_back(std::move(s));
  options_.skip_holes_after = absl::Minutes(30);
  auto wakeups = std::make_unique<FakeWakeups>();
  wakeups_ = wakeups.get();
  engine_ = std::make_unique<core::Engine>(options_, "fake/source", std::move(wakeups),
                                           std::move(setups), clock_);
  engine_->Start();
  ASSERT_TRUE(AwaitState(0, core::DestinationState::kWaitingAtHole));
  EXPECT_EQ(engine_->Snapshot().destinations[0].hole_since, clock_.Now());
  // Just before it is due, a wake-up still holds it.
  clock_.Advance(absl::Minutes(29));
  WakeWith(3);
  ASSERT_TRUE(engine_->board().Await(
      [](const core::EngineStatus& st) { return st.source.passes_total >= 2; }, kWait));
  ASSERT_TRUE(AwaitState(0, core::DestinationState::kWaitingAtHole));
  EXPECT_EQ(sinks_[0]->Position(), 1);
  // No wake-up needed when it is due: the loop comes back then (the poll is an hour away).
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(AwaitPosition(0, 3));
  const auto rows = sinks_[0]->Rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].id, 3);
}

TEST_F(EngineTest, AStalledCallIsInterruptedAndRetried) {
  for (int i = 0; i < 10; ++i) source_.AddTransaction(4);
  Build(2, absl::Minutes(1));
  {
    absl::MutexLock lock(&sinks_[0]->faults().mu);
    sinks_[0]->faults().hang_writes = true;  // a blackholed connection: never answers
  }
  engine_->Start();
  ASSERT_TRUE(AwaitPosition(1, 40));  // the other destination is not held up
  {
    absl::MutexLock lock(&sinks_[0]->faults().mu);
    EXPECT_EQ(sinks_[0]->faults().interruptions, 0);  // the engine's time has not moved
  }
  // The stalled one is interrupted once the stall timeout passes, retries, catches up.
  ASSERT_TRUE(DriveUntil([](const core::EngineStatus& st) {
    return st.destinations[0].position == 40 &&
           st.destinations[0].state == core::DestinationState::kInSync;
  }));
  absl::MutexLock lock(&sinks_[0]->faults().mu);
  EXPECT_EQ(sinks_[0]->faults().interruptions, 1);
  EXPECT_EQ(engine_->Snapshot().destinations[0].errors_by_kind.at("unavailable"), 1);
}

TEST_F(EngineTest, StopRollsBackTheOpenBatchAndKeepsTheCommittedOnes) {
  for (int i = 0; i < 200; ++i) source_.AddTransaction(3);
  Build(2);
  // Destination 0 holds a batch open at id 100; destination 1 runs free.
  {
    absl::MutexLock lock(&sinks_[0]->faults().mu);
    sinks_[0]->faults().hold_at_id = 100;
  }
  engine_->Start();
  {
    Faults& f = sinks_[0]->faults();
    absl::MutexLock lock(&f.mu);
    auto holding = [&f]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(f.mu) { return f.holding; };
    ASSERT_TRUE(f.mu.AwaitWithTimeout(absl::Condition(&holding), kWait));
  }
  const int64_t committed = sinks_[0]->Position();
  ASSERT_GT(committed, 0) << "earlier batches must have committed before the held one";
  ASSERT_LT(committed, 100);
  engine_->RequestStop();
  {
    absl::MutexLock lock(&sinks_[0]->faults().mu);
    sinks_[0]->faults().release = true;  // the held write returns; the stop is seen next
  }
  engine_->Join();
  // The held batch rolled back; every batch committed before it stayed.
  EXPECT_EQ(sinks_[0]->Position(), committed);
  EXPECT_EQ(static_cast<int64_t>(sinks_[0]->Rows().size()), committed);
  {
    absl::MutexLock lock(&sinks_[0]->faults().mu);
    EXPECT_EQ(sinks_[0]->faults().aborted_batches, 1);
  }
  for (const auto& sink : sinks_) {
    const int64_t position = sink->Position();
    EXPECT_EQ(position % 3, 0) << "a source transaction was split";
    EXPECT_EQ(static_cast<int64_t>(sink->Rows().size()), position);
  }
  const core::EngineStatus s = engine_->Snapshot();
  EXPECT_TRUE(core::AllDestinationsEnded(s));
  EXPECT_EQ(s.destinations[0].state, core::DestinationState::kStopped);
  EXPECT_EQ(s.destinations[0].position, committed);
}

TEST_F(EngineTest, ADestinationAddedWhileRunningCatchesUpAndTheOthersAreNotTouched) {
  for (int i = 0; i < 20; ++i) source_.AddTransaction(7);
  Build(1);
  engine_->Start();
  ASSERT_TRUE(AwaitPosition(0, 140));
  const int64_t batches_before = engine_->Snapshot().destinations[0].batches_total;
  ASSERT_TRUE(engine_->AddDestination(NewSetup("added")).ok());
  EXPECT_EQ(engine_->AddDestination(NewSetup("added")).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(AwaitNamed("added", 140, core::DestinationState::kInSync));
  EXPECT_EQ(sinks_[1]->Rows().size(), 140u);
  source_.AddTransaction(3);
  WakeWith(143);
  ASSERT_TRUE(AwaitNamed("d0", 143, core::DestinationState::kInSync));
  ASSERT_TRUE(AwaitNamed("added", 143, core::DestinationState::kInSync));
  // d0 went on in its one session: no reconnect, one more batch for the new transaction.
  EXPECT_EQ(Connects(*sinks_[0]), 1);
  EXPECT_EQ(engine_->Snapshot().destinations[0].batches_total, batches_before + 1);
  EXPECT_EQ(engine_->DestinationNames(), (std::vector<std::string>{"d0", "added"}));
}

TEST_F(EngineTest, ARemovedDestinationStopsAndReleasesItsSessionWhileTheOthersGoOn) {
  for (int i = 0; i < 20; ++i) source_.AddTransaction(7);
  Build(2);
  engine_->Start();
  ASSERT_TRUE(AwaitPosition(0, 140));
  ASSERT_TRUE(AwaitPosition(1, 140));
  ASSERT_TRUE(Connected(*sinks_[0]));
  ASSERT_TRUE(engine_->RemoveDestination("d0").ok());
  EXPECT_FALSE(Connected(*sinks_[0])) << "its session (and writer lock) must be released";
  EXPECT_EQ(engine_->RemoveDestination("d0").code(), absl::StatusCode::kNotFound);
  const core::EngineStatus s = engine_->Snapshot();
  ASSERT_EQ(s.destinations.size(), 1u);
  EXPECT_EQ(s.destinations[0].name, "d1");
  source_.AddTransaction(3);
  WakeWith(143);
  ASSERT_TRUE(AwaitNamed("d1", 143, core::DestinationState::kInSync));
  EXPECT_EQ(sinks_[0]->Position(), 140) << "a removed destination is written no more";
  EXPECT_EQ(Connects(*sinks_[1]), 1);
}

TEST_F(EngineTest, RemovingADestinationRollsBackItsOpenBatch) {
  for (int i = 0; i < 200; ++i) source_.AddTransaction(3);
  Build(1);
  {
    absl::MutexLock lock(&sinks_[0]->faults().mu);
    sinks_[0]->faults().hold_at_id = 100;
  }
  engine_->Start();
  AwaitHolding(*sinks_[0]);
  const int64_t committed = sinks_[0]->Position();
  std::thread remover([&] { EXPECT_TRUE(engine_->RemoveDestination("d0").ok()); });
  // The removal is asked for (lane 1 ends) before the held write returns.
  const absl::Time give_up = absl::Now() + kWait;
  while (!engine_->signals().Lane(1).ending && absl::Now() < give_up) std::this_thread::yield();
  const bool asked_first = engine_->signals().Lane(1).ending;
  Release(*sinks_[0]);
  remover.join();
  ASSERT_TRUE(asked_first) << "the removal was not asked for while the write was held";
  EXPECT_EQ(sinks_[0]->Position(), committed);
  absl::MutexLock lock(&sinks_[0]->faults().mu);
  EXPECT_EQ(sinks_[0]->faults().aborted_batches, 1);
  EXPECT_FALSE(sinks_[0]->faults().connected);
}

TEST_F(EngineTest, PauseLetsTheOpenBatchCommitAndResumeGoesOnFromThePosition) {
  for (int i = 0; i < 200; ++i) source_.AddTransaction(3);
  Build(2);
  {
    absl::MutexLock lock(&sinks_[0]->faults().mu);
    sinks_[0]->faults().hold_at_id = 100;
  }
  engine_->Start();
  AwaitHolding(*sinks_[0]);
  bool changed = false;
  ASSERT_TRUE(engine_->Pause("d0", "test", &changed).ok());
  EXPECT_TRUE(changed);
  Release(*sinks_[0]);
  ASSERT_TRUE(AwaitState(0, core::DestinationState::kPaused));
  const int64_t paused_at = sinks_[0]->Position();
  EXPECT_GE(paused_at, 100) << "the batch open at the pause commits";
  EXPECT_LT(paused_at, 600);
  EXPECT_EQ(paused_at % 3, 0) << "a source transaction was split";
  {
    absl::MutexLock lock(&sinks_[0]->faults().mu);
    EXPECT_EQ(sinks_[0]->faults().aborted_batches, 0);
  }
  ASSERT_TRUE(AwaitPosition(1, 600)) << "the other destination is not paused";
  ASSERT_TRUE(engine_->Pause("d0", "again", &changed).ok());
  EXPECT_FALSE(changed);
  // Paused: wake-ups copy nothing; its lag shows, and the poll keeps its heartbeat.
  source_.AddTransaction(3);
  WakeWith(603);
  ASSERT_TRUE(AwaitPosition(1, 603));
  const absl::Time heartbeat = engine_->Snapshot().destinations[0].last_heartbeat;
  ASSERT_TRUE(DriveUntil(
      [&](const core::EngineStatus& s) { return s.destinations[0].last_heartbeat > heartbeat; }));
  core::EngineStatus s = engine_->Snapshot();
  EXPECT_EQ(s.destinations[0].state, core::DestinationState::kPaused);
  EXPECT_EQ(s.destinations[0].position, paused_at);
  EXPECT_EQ(s.destinations[0].lag_events, 603 - paused_at);
  EXPECT_GT(s.destinations[0].lag_seconds, 0);
  EXPECT_TRUE(s.destinations[0].paused);
  EXPECT_EQ(s.destinations[0].paused_by, "test");
  EXPECT_EQ(sinks_[0]->Position(), paused_at);
  EXPECT_EQ(Connects(*sinks_[0]), 1) << "a pause keeps the session";
  EXPECT_TRUE(Connected(*sinks_[0]));

  ASSERT_TRUE(engine_->Resume("d0", "test", &changed).ok());
  EXPECT_TRUE(changed);
  ASSERT_TRUE(AwaitPosition(0, 603));
  s = engine_->Snapshot();
  EXPECT_FALSE(s.destinations[0].paused);
  EXPECT_EQ(Connects(*sinks_[0]), 1);
  const std::vector<FakeRow> rows = sinks_[0]->Rows();
  for (size_t i = 0; i < rows.size(); ++i) ASSERT_EQ(rows[i].id, static_cast<int64_t>(i) + 1);
  EXPECT_EQ(engine_->Pause("nope", "test").code(), absl::StatusCode::kNotFound);
}

TEST_F(EngineTest, ADestinationAddedPausedConnectsAndCopiesNothing) {
  for (int i = 0; i < 20; ++i) source_.AddTransaction(7);
  Build(1);
  engine_->Start();
  ASSERT_TRUE(engine_->AddDestination(NewSetup("later"), "config").ok());
  ASSERT_TRUE(AwaitNamed("later", 0, core::DestinationState::kPaused));
  EXPECT_EQ(Row(engine_->Snapshot(), "later").paused_by, "config");
  EXPECT_TRUE(Connected(*sinks_[1]));
  ASSERT_TRUE(engine_->Resume("later", "test").ok());
  ASSERT_TRUE(AwaitNamed("later", 140, core::DestinationState::kInSync));
}

TEST_F(EngineTest, AWaitIsAnsweredByTheCommitItWaitedFor) {
  for (int i = 0; i < 20; ++i) source_.AddTransaction(7);
  Build(2);
  engine_->Start();
  ASSERT_TRUE(AwaitPosition(0, 140));
  ASSERT_TRUE(AwaitPosition(1, 140));
  absl::Notification answered;
  core::WaitResult result;
  int64_t committed_when_answered[2] = {0, 0};
  ASSERT_TRUE(engine_->waiters()
                  .Wait(143, {}, clock_.Now() + absl::Hours(1),
                        [&](core::WaitResult r) {
                          committed_when_answered[0] = sinks_[0]->Position();
                          committed_when_answered[1] = sinks_[1]->Position();
                          result = std::move(r);
                          answered.Notify();
                        })
                  .ok());
  EXPECT_FALSE(answered.HasBeenNotified());
  source_.AddTransaction(3);
  WakeWith(143);
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.positions.size(), 2u);
  EXPECT_EQ(result.positions[0], (std::pair<std::string, int64_t>{"d0", 143}));
  EXPECT_EQ(result.positions[1], (std::pair<std::string, int64_t>{"d1", 143}));
  // Never before the commit it reports.
  EXPECT_GE(committed_when_answered[0], 143);
  EXPECT_GE(committed_when_answered[1], 143);

  // Already there: answered at once. Not there in time: DeadlineExceeded with the positions.
  core::WaitResult now;
  ASSERT_TRUE(engine_->waiters()
                  .Wait(10, {"d1"}, clock_.Now() + absl::Hours(1),
                        [&](core::WaitResult r) { now = std::move(r); })
                  .ok());
  EXPECT_TRUE(now.status.ok());
  absl::Notification timed_out;
  core::WaitResult late;
  ASSERT_TRUE(engine_->waiters()
                  .Wait(1000, {"d0"}, clock_.Now() + absl::Seconds(5),
                        [&](core::WaitResult r) {
                          late = std::move(r);
                          timed_out.Notify();
                        })
                  .ok());
  while (!timed_out.HasBeenNotified()) {
    clock_.AdvanceToNextDeadline();
    timed_out.WaitForNotificationWithTimeout(absl::Milliseconds(10));
  }
  EXPECT_EQ(late.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(late.positions[0], (std::pair<std::string, int64_t>{"d0", 143}));
  EXPECT_EQ(engine_->waiters().Wait(1, {"nope"}, clock_.Now(), [](core::WaitResult) {}).code(),
            absl::StatusCode::kNotFound);

  // A destination removed while waited on settles its waiters.
  core::WaitResult removed;
  ASSERT_TRUE(engine_->waiters()
                  .Wait(1000, {"d0"}, clock_.Now() + absl::Hours(1),
                        [&](core::WaitResult r) { removed = std::move(r); })
                  .ok());
  ASSERT_TRUE(engine_->RemoveDestination("d0").ok());
  EXPECT_EQ(removed.status.code(), absl::StatusCode::kFailedPrecondition);
  // A stop settles the rest.
  core::WaitResult stopped;
  ASSERT_TRUE(engine_->waiters()
                  .Wait(1000, {}, clock_.Now() + absl::Hours(1),
                        [&](core::WaitResult r) { stopped = std::move(r); })
                  .ok());
  engine_->RequestStop();
  engine_->Join();
  EXPECT_EQ(stopped.status.code(), absl::StatusCode::kUnavailable);
}

TEST_F(EngineTest, ADestinationPausedWhileDownShowsItAndStaysPausedOnceBack) {
  for (int i = 0; i < 10; ++i) source_.AddTransaction(5);
  Build(1);
  {
    absl::MutexLock lock(&sinks_[0]->faults().mu);
    sinks_[0]->faults().outage = absl::UnavailableError("destination down");
  }
  engine_->Start();
  ASSERT_TRUE(DriveUntil(
      [](const core::EngineStatus& st) { return st.destinations[0].retries_total >= 1; }));
  ASSERT_TRUE(engine_->Pause("d0", "while down").ok());
  core::EngineStatus s = engine_->Snapshot();
  EXPECT_TRUE(s.destinations[0].paused) << "shown at once, whatever the loop is doing";
  EXPECT_EQ(s.destinations[0].paused_by, "while down");
  EXPECT_EQ(s.destinations[0].state, core::DestinationState::kConnecting);
  {
    absl::MutexLock lock(&sinks_[0]->faults().mu);
    sinks_[0]->faults().outage = absl::OkStatus();
  }
  // Back: it connects, and holds, copying nothing.
  ASSERT_TRUE(DriveUntil([](const core::EngineStatus& st) {
    return st.destinations[0].state == core::DestinationState::kPaused;
  }));
  EXPECT_TRUE(Connected(*sinks_[0]));
  EXPECT_EQ(sinks_[0]->Position(), 0);
  ASSERT_TRUE(engine_->Resume("d0", "test").ok());
  EXPECT_FALSE(engine_->Snapshot().destinations[0].paused);
  ASSERT_TRUE(AwaitPosition(0, 50));
}

TEST(PositionWaitersTest, TenThousandWaitersAreEachAnsweredOnceInIdOrder) {
  FakeClock clock;
  core::PositionWaiters waiters(clock);
  waiters.Add("a");
  waiters.Add("b");
  constexpr int kWaiters = 10000;
  std::vector<int> answers(kWaiters, 0);
  std::vector<int64_t> answered_at(kWaiters, 0);
  int64_t b_position = 0;
  for (int i = 0; i < kWaiters; ++i) {
    ASSERT_TRUE(waiters
                    .Wait(i + 1, {}, clock.Now() + absl::Hours(1),
                          [&, i](core::WaitResult r) {
                            ASSERT_TRUE(r.status.ok());
                            ++answers[static_cast<size_t>(i)];
                            answered_at[static_cast<size_t>(i)] = b_position;
                          })
                    .ok());
  }
  waiters.Committed("a", kWaiters);  // b is still at 0: nobody is answered
  EXPECT_EQ(waiters.waiting(), static_cast<size_t>(kWaiters));
  for (int64_t p = 100; p <= kWaiters; p += 100) {
    b_position = p;
    waiters.Committed("b", p);
    EXPECT_EQ(waiters.waiting(), static_cast<size_t>(kWaiters - p));
  }
  for (int i = 0; i < kWaiters; ++i) {
    ASSERT_EQ(answers[static_cast<size_t>(i)], 1);
    // Answered by the first commit at or past its id.
    ASSERT_EQ(answered_at[static_cast<size_t>(i)], (i / 100 + 1) * 100);
  }
  waiters.Committed("b", 5);  // positions only rise
  core::WaitResult r;
  ASSERT_TRUE(waiters.Wait(kWaiters, {"b"}, clock.Now(), [&](core::WaitResult x) { r = x; }).ok());
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.positions[0].second, kWaiters);
}

// Parallel writes shared per machine (writer_shares.h). Two destinations on `machine0` and
// `machine1`, each with a second session, copy 100 one-event transactions (10 batches each).
// Both are held inside their first batch; destination 0 copies everything while destination 1
// is still held; then destination 1 goes on alone. Returns the batches each destination's second
// session committed.
class SharedWritesTest : public EngineTest {
 protected:
  std::pair<int, int> SecondSessionBatches(const std::string& machine0,
                                           const std::string& machine1) {
    for (int i = 0; i < 100; ++i) source_.AddTransaction(1);
    std::vector<core::DestinationSetup> setups;
    std::vector<FakeEventSink*> helpers;
    const std::string machines[] = {machine0, machine1};
    for (int i = 0; i < 2; ++i) {
      setups.push_back(NewSetup("d" + std::to_string(i)));
      auto helper = std::make_unique<FakeEventSink>(*sinks_.back());
      helpers.push_back(helper.get());
      setups.back().helpers.push_back(std::move(helper));
      setups.back().machine = machines[i];
    }
    BuildWith(std::move(setups));
    for (const auto& sink : sinks_) {
      absl::MutexLock lock(&sink->faults().mu);
      sink->faults().hold_at_id = 5;
    }
    engine_->Start();
    // Both passes (and their claims) are under way before destination 0's second batch begins.
    AwaitHolding(*sinks_[0]);
    AwaitHolding(*sinks_[1]);
    Release(*sinks_[0]);
    EXPECT_TRUE(AwaitPosition(0, 100));
    Release(*sinks_[1]);
    EXPECT_TRUE(AwaitPosition(1, 100));
    engine_->RequestStop();
    engine_->Join();
    for (const auto& sink : sinks_) EXPECT_EQ(sink->Rows().size(), source_.Rows().size());
    return {helpers[0]->commits(), helpers[1]->commits()};
  }
};

TEST_F(SharedWritesTest, DestinationsOfOneMachineCopyingAtOnceWriteWithOneSessionEach) {
  const auto [first, second] = SecondSessionBatches("db-host", "db-host");
  // Destination 0 copied while destination 1 copied too: its first session wrote every batch.
  EXPECT_EQ(first, 0);
  // Destination 1 went on alone: both its sessions wrote (after the held first batch, in turn).
  EXPECT_GE(second, 4);
}

TEST_F(SharedWritesTest, DestinationsOfDifferentMachinesKeepTheirSessions) {
  const auto [first, second] = SecondSessionBatches("db-host-a", "db-host-b");
  EXPECT_GE(first, 4);  // batches 2, 4, ... 10 on the second session
  EXPECT_GE(second, 4);
}

TEST_F(SharedWritesTest, AnEmptyMachineSharesWithNone) {
  const auto [first, second] = SecondSessionBatches("", "");
  EXPECT_GE(first, 4);
  EXPECT_GE(second, 4);
}

}  // namespace
}  // namespace slate::testing
