#pragma once

// The replication engine: the wiring of its threads. One listener thread on the source's
// notifications (listener.h), one loop thread per destination (destination_loop.h) and the stall
// watchdog (stall_watchdog.h). Destinations progress independently: each has its own source
// reader and sinks, its own position, its own retries; a slow, failing or unreachable destination
// never delays the others. They share only the control signals (signals.h) and report to the
// status board (status_board.h).
//
// Threads: Start() once; RequestStop() from any thread (the signal thread, the Stop RPC); Join()
// returns when every thread has ended (the destructor does both). Snapshot() and board() are
// thread-safe. The clock must outlive the engine.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/core/clock.h"
#include "server/core/destination_loop.h"
#include "server/core/destination_report.h"
#include "server/core/interfaces.h"
#include "server/core/listener.h"
#include "server/core/options.h"
#include "server/core/signals.h"
#include "server/core/stall_watchdog.h"
#include "server/core/status_board.h"

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

  EngineStatus Snapshot() const { return board_.Snapshot(); }
  const StatusBoard& board() const { return board_; }
  const Signals& signals() const { return signals_; }

 private:
  // Constant after construction.
  const EngineOptions options_;
  std::vector<DestinationSetup> destinations_;
  Signals signals_;
  StatusBoard board_;
  StallWatchdog watchdog_;
  Listener listener_;
  std::vector<std::unique_ptr<DestinationReport>> reports_;
  std::vector<std::unique_ptr<DestinationLoop>> loops_;
  Activity* listener_activity_ = nullptr;

  std::vector<std::thread> threads_;  // Start() and Join() only, on the owner's thread
};

}  // namespace slate::core
