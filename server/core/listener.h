#pragma once

// The listener: one thread on the source's notification channel (LISTEN eventsinsert). Every
// batch of notifications is one wake-up for every destination (Signals::Notify); a payload's id
// raises the known source head. It reconnects with backoff when the connection is lost and then
// wakes everyone once, so nothing committed while it was away waits for the poll.
//
// Threads: Connect() runs on the caller's thread before Run(); Run() on the listener's own thread
// until Signals::stopping(). It owns the WakeupSource; the stall watchdog may Interrupt() it.

#include <memory>

#include "server/core/interfaces.h"
#include "server/core/options.h"
#include "server/core/signals.h"
#include "server/core/stall_watchdog.h"
#include "server/core/status_board.h"

namespace slate::core {

class Listener {
 public:
  Listener(const EngineOptions& options, std::unique_ptr<WakeupSource> wakeups, Signals& signals,
           StatusBoard& board);

  // One attempt; records the outcome on the board. The engine calls it before the first passes,
  // so nothing committed in between waits for the poll.
  bool Connect();
  // Until a stop. `connected`: whether Connect() succeeded. `activity` is the watchdog's record.
  void Run(bool connected, Activity& activity);
  // Thread-safe: fails a blocked call (the watchdog).
  void Interrupt() { wakeups_->Interrupt(); }

 private:
  void Deliver(const std::vector<std::string>& payloads);
  void Lost(const absl::Status& error);

  const EngineOptions& options_;
  std::unique_ptr<WakeupSource> wakeups_;
  Signals& signals_;
  StatusBoard& board_;
};

}  // namespace slate::core
