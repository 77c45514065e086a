#pragma once

// The replication engine: one listener thread on the source's notifications and one worker thread
// per destination. Destinations progress independently: each has its own source reader and sinks,
// its own position, its own retries; a slow, failing or unreachable destination never delays the
// others. Start() once; RequestStop() from any thread (signal handler thread, the Stop RPC); Join()
// returns when every thread has ended. Snapshot() is cheap and thread-safe.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#include "server/core/interfaces.h"
#include "server/core/status_board.h"

namespace slate::core {

struct EngineOptions {
  int64_t max_events_per_write = 10000;
  absl::Duration poll_interval = absl::Seconds(5);  // a pass even without notifications
  absl::Duration initial_retry_delay = absl::Milliseconds(250);
  absl::Duration max_retry_delay = absl::Seconds(30);
  absl::Duration skip_holes_after = absl::ZeroDuration();  // zero: never skip a hole
  absl::Duration progress_interval = absl::Seconds(10);    // catch-up progress log lines
  absl::Duration listen_wait = absl::Milliseconds(250);    // listener's stop latency
  // A thread inside a database call with no progress for this long has its connections
  // interrupted (a blackholed peer never answers; keepalives cannot tell). Zero: never.
  absl::Duration stall_timeout = absl::Seconds(60);
  // How often the listener makes a round trip on its connection, so a silent one is noticed.
  absl::Duration listen_ping_interval = absl::Seconds(10);
};

// Progress of one engine thread, for the stall watchdog.
struct Activity {
  std::atomic<bool> busy{false};   // inside a database call
  std::atomic<uint64_t> ticks{0};  // bumped on every sign of progress
};

struct DestinationSetup {
  std::string name;
  std::string dsn;                      // masked
  std::unique_ptr<EventSource> source;  // this destination's own reader of the source
  std::unique_ptr<EventSink> sink;      // takes the writer lock
  // More sessions on the same destination for parallel writes (without the lock: they write only
  // while `sink`'s session holds it). Empty: one stream.
  std::vector<std::unique_ptr<EventSink>> helpers;
};

class Engine {
 public:
  Engine(EngineOptions options, std::string source_dsn, std::unique_ptr<WakeupSource> wakeups,
         std::vector<DestinationSetup> destinations);
  ~Engine();  // RequestStop() and Join()

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void Start();
  void RequestStop();
  void Join();

  EngineStatus Snapshot() const { return board_.Snapshot(); }
  const StatusBoard& board() const { return board_; }
  // True when no destination can make progress any more (every one failed or stopped).
  bool AllDestinationsEnded() const;

 private:
  bool ConnectListener();  // one attempt; records the outcome on the board
  void ListenLoop(bool connected);
  void WatchdogLoop();
  void WorkerLoop(size_t index);

  const EngineOptions options_;
  std::unique_ptr<WakeupSource> wakeups_;
  std::vector<DestinationSetup> destinations_;
  StatusBoard board_;
  // One per destination, then the listener's.
  std::vector<std::unique_ptr<Activity>> activities_;
  std::vector<std::thread> threads_;
  std::thread watchdog_;
  absl::Notification threads_done_;
};

}  // namespace slate::core
