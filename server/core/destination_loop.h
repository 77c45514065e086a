#pragma once

// One destination's replication loop, on its own thread: connect (writer lock, position, same
// history), then passes, each woken by a notification or the poll, until a stop. It owns the
// destination's one position: set when it connects and by each committed batch, nowhere else.
// The pieces it uses decide without I/O (hole_policy.h, catch_up.h, backoff.h); what it reports
// goes through DestinationReport.
//
// Pause: its lane (signals.h) says so; the pass ends where the next batch would begin (every batch
// begun commits), and the loop holds its connections (and the writer lock) and position, pinging
// the destination and reading the ts of the first event it lacks every poll interval, so its
// heartbeat and lag stay true; on resume it goes on from its position. Removal (the lane ends)
// stops it like an engine stop. Every position it commits (and the one it reads at connect) is
// reported to the PositionWaiters, after the commit.
//
// Parallel writes: a pass copying a backlog (more than one batch) writes with the destination's
// sessions, or its share of them while other destinations of its machine copy a backlog too
// (writer_shares.h); a pass following live writes writes one batch with one.
//
// Bulk load (bulk_load.h): an empty destination with a large backlog is copied with its secondary
// indexes set aside; once a pass has copied what the source had, the loop builds them (holding
// its writes meanwhile) and goes on copying the tail with them in place.
//
// Errors: DataLoss (an invariant broken) and InvalidArgument (a failed start-up check) fail this
// destination for good (the others go on); anything else disconnects, waits on the capped backoff
// and reconnects, re-reading the position. Until its first connect succeeds, the destination
// shows `connecting` (with the last error and the next retry) rather than `retrying`.
// Threads: Run() on the destination's thread; the stall watchdog may interrupt its connections
// from another (Interrupt()).

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "server/core/backoff.h"
#include "server/core/bulk_load.h"
#include "server/core/catch_up.h"
#include "server/core/copy_pass.h"
#include "server/core/destination_report.h"
#include "server/core/hole_policy.h"
#include "server/core/interfaces.h"
#include "server/core/options.h"
#include "server/core/position_waiters.h"
#include "server/core/signals.h"
#include "server/core/stall_watchdog.h"
#include "server/core/verify.h"
#include "server/core/writer_shares.h"

namespace slate::core {

struct DestinationSetup {
  std::string name;
  std::string dsn;                      // masked
  std::unique_ptr<EventSource> source;  // this destination's own reader of the source
  std::unique_ptr<EventSink> sink;      // takes the writer lock
  // More sessions on the same destination for parallel writes (without the lock: they write only
  // while `sink`'s session holds it). Empty: one stream.
  std::vector<std::unique_ptr<EventSink>> helpers;
  // The machine the destination's database runs on (ConnParams::MachineKey): destinations of one
  // machine copying a backlog at once share their parallel writes (writer_shares.h). Empty: its
  // sessions are its own.
  std::string machine;
  // Run before the first connect until it passes (empty: none): the start-up checks of a
  // destination that, or whose source, did not answer at start. Unavailable: retried with
  // backoff (the destination shows `connecting`); InvalidArgument: this destination fails.
  std::function<absl::Status()> startup_check;
  // Sessions for continuous verification (continuous_verify.h) on the source and on this
  // destination; empty: not verified continuously.
  VerifyTargetFactory verify_source;
  VerifyTargetFactory verify_destination;
  // Sessions that set this destination's secondary indexes aside for a bulk load and build them
  // again (bulk_load.h); empty: never in bulk.
  DestinationIndexesFactory indexes;
  // Another destination of the engine to read the backlog from (seeded_source.h), and a reader of
  // its events; empty/null: the source only.
  std::string seed_from;
  std::unique_ptr<EventSource> seed;
};

class DestinationLoop : private PassObserver {
 public:
  // `lane` is this destination's lane in `signals`; `waiters` may be null; `shares` is the
  // engine's, shared by its destinations.
  DestinationLoop(const EngineOptions& options, DestinationSetup& setup, Signals& signals,
                  uint64_t lane, DestinationReport& report, Activity& activity,
                  PositionWaiters* waiters, WriterShares& shares);

  void Run();
  // Thread-safe: fails the calls blocked on this destination's connections.
  void Interrupt();

 private:
  bool Connect();
  absl::Status CheckSameHistory();
  void Disconnect();
  absl::StatusOr<PassResult> Pass();
  bool AfterPass(const PassResult& pass, absl::Duration* wait);
  void HandleError(const absl::Status& status);
  // While paused: false when stopping.
  bool HoldPaused();
  absl::StatusOr<bool> CheckWhilePaused();
  void StartCatchingUp(absl::Time since);

  // PassObserver
  bool StopRequested() override { return signals_.stopping(lane_); }
  bool PauseRequested() override { return signals_.Lane(lane_).paused; }
  void OnRow() override { activity_.Tick(); }
  void OnBatchStart(int64_t first_ts) override;
  void OnBatchesAbandoned() override { uncommitted_starts_.clear(); }
  void OnBatchCommitted(int64_t position, int64_t events, int64_t bytes) override;
  int WritersNow(int sinks) override;

  // Constant after construction.
  const EngineOptions& options_;
  DestinationSetup& setup_;
  Signals& signals_;
  const uint64_t lane_;
  PositionWaiters* const waiters_;
  WriterShares& shares_;
  const Clock& clock_;
  DestinationReport& report_;
  Activity& activity_;
  std::vector<EventSink*> sinks_;

  // The loop's own state (its thread only).
  Backoff backoff_;
  bool connected_ = false;
  bool ever_connected_ = false;
  bool startup_checked_ = false;
  bool failed_ = false;      // failed for good (DataLoss, InvalidArgument)
  bool head_known_ = false;  // a Head() since the last connect
  int64_t position_ = 0;     // the destination's position: the only copy
  int64_t events_copied_ = 0;
  HoleState hole_;
  CatchUpTracker catch_up_;
  BulkLoad bulk_;
  // The pass being run.
  absl::Time pass_start_;
  int batches_this_pass_ = 0;
  int64_t committed_this_pass_ = 0;
  std::deque<int64_t> uncommitted_starts_;  // first ts of each batch started, not committed
  // Held while a pass copies a backlog with parallel writes; the sessions it wrote with last.
  std::optional<WriterShares::Claim> writers_claim_;
  int writers_ = 0;
};

}  // namespace slate::core
