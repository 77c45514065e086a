#pragma once

// The replication engine: the wiring of its threads. One listener thread on the source's
// notifications (listener.h), one loop thread per destination (destination_loop.h) and the stall
// watchdog (stall_watchdog.h). Destinations progress independently: each has its own source
// reader and sinks, its own position, its own retries; a slow, failing or unreachable destination
// never delays the others. They share only the control signals (signals.h) and report to the
// status board (status_board.h).
//
// Destinations come and go while it runs (a reload): AddDestination() starts one at once,
// RemoveDestination() ends one (its open batch commits or rolls back, its connections close, its
// writer lock goes with them) and returns when its thread has ended; the others are not touched.
// Pause()/Resume() act on one destination's lane (signals.h). Waits for a position go through
// waiters() (position_waiters.h).
//
// Threads: Start() once; RequestStop() from any thread (the signal thread, the Stop RPC); Join()
// returns when every thread has ended (the destructor does both). Every other method is
// thread-safe; Add/RemoveDestination are serialized with each other. The clock must outlive the
// engine.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "server/core/clock.h"
#include "server/core/continuous_verify.h"
#include "server/core/destination_loop.h"
#include "server/core/destination_report.h"
#include "server/core/interfaces.h"
#include "server/core/listener.h"
#include "server/core/options.h"
#include "server/core/position_waiters.h"
#include "server/core/proven_positions.h"
#include "server/core/signals.h"
#include "server/core/stall_watchdog.h"
#include "server/core/status_board.h"
#include "server/core/writer_shares.h"

namespace slate::core {

class Engine {
 public:
  Engine(EngineOptions options, std::string source_dsn, std::unique_ptr<WakeupSource> wakeups,
         std::vector<DestinationSetup> destinations, const Clock& clock = Clock::Real());
  ~Engine();  // RequestStop() and Join()

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void Start();
  void RequestStop();
  void Join();

  // AlreadyExists when a destination of that name runs. `paused_by` non-empty: it starts paused.
  absl::Status AddDestination(DestinationSetup setup, const std::string& paused_by = "");
  // NotFound when none of that name runs.
  absl::Status RemoveDestination(const std::string& name);
  // NotFound for an unknown name. Pausing a paused destination (or resuming a running one)
  // changes nothing and says so in *changed (optional).
  absl::Status Pause(const std::string& name, const std::string& by, bool* changed = nullptr);
  absl::Status Resume(const std::string& name, const std::string& by, bool* changed = nullptr);
  std::vector<std::string> DestinationNames() const;

  EngineStatus Snapshot() const { return board_.Snapshot(); }
  const StatusBoard& board() const { return board_; }
  const Signals& signals() const { return signals_; }
  PositionWaiters& waiters() { return waiters_; }

 private:
  struct Lane {
    uint64_t id = 0;
    DestinationSetup setup;
    std::unique_ptr<DestinationReport> report;
    Activity* activity = nullptr;
    std::unique_ptr<DestinationLoop> loop;
    std::thread thread;
    std::unique_ptr<ContinuousVerifier> verifier;  // null: not verified continuously
    std::thread verify_thread;
  };
  // Ends and joins a lane's threads (its lane in signals_ has ended, or the engine stops).
  static void JoinLane(Lane& lane);
  void StartLane(Lane& lane);
  // The lane named `name`, or null.
  Lane* FindLocked(const std::string& name) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<uint64_t> LaneId(const std::string& name) const;
  absl::Status SetPaused(const std::string& name, bool paused, const std::string& by,
                         bool* changed);
  void ShowPause(uint64_t id);

  // Constant after construction.
  const EngineOptions options_;
  const Clock& clock_;
  Signals signals_;
  StatusBoard board_;
  StallWatchdog watchdog_;
  PositionWaiters waiters_;
  ProvenPositions proven_;  // written by the verifiers, read by seeded sources
  WriterShares shares_;     // the destinations' parallel writes, per machine
  Listener listener_;
  Activity* listener_activity_ = nullptr;

  absl::Mutex change_mu_;  // serializes AddDestination/RemoveDestination (held across a join)
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Lane>> lanes_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread listener_thread_;  // Start() and Join() only, on the owner's thread
};

}  // namespace slate::core
