#pragma once

// Continuous verification: one thread per destination compares its committed rows with the
// source's, range by range with verify's in-database checksums (verify.h), within a budget of ids
// per second, following new commits, and starts a new pass from id 1 periodically. A range that
// differs is compared row by row: the destination becomes `diverged`, naming the first differing
// id and its class, while copying goes on (it is a report, not a stop). A pass from id 1 that
// finds nothing clears it; while diverged, a new pass starts one poll interval after the last one
// ended, so a repair shows soon.
//
// It yields to a catch-up: while the destination is catching up (its loop copies a backlog of
// more than one batch, a bulk load and its index builds included) it compares nothing, so the
// copy has the databases to itself, and goes on within a poll interval of the catch-up's end
// (like a table checksummer that pauses while its replica lags). A diverged destination is
// verified regardless (a repair must show).
//
// It reads only (but for its checkpoint, below), on sessions of its own (opened through the
// setup's factories, reopened with backoff after an error), and reads only ids the destination
// loop has reported committed (position_waiters.h), which never change. Reports to the status
// board (verified_position, last full pass, diverged) and logs each pass and each change of
// verdict. Publishes how far it has proven the destination equal (proven_positions.h: the
// highest id compared with no difference found before it, kept across passes, 0 once a
// difference is found), which is what a destination seeded from this one may read from it.
//
// Checkpoint: the destination keeps how far verification has got (VerifyTarget::SaveCheckpoint:
// the pass's start and position, what is proven, and the checksum of the last proven row), saved
// when it has moved, at most every ten seconds (a stop or a crash loses at most that much
// verifying), at each pass's end, and at once when a difference is found (which proves nothing
// any more). A start goes on from it, so a restart does not compare the whole history again (the
// pass from id 1 still comes verify_full_pass_every after the stored pass began), but only when
// the destination's table is the one it was saved for (not emptied and refilled, rebuilt or
// rewritten) and the row it names is still equal on both sides as it was proven (the same
// source); otherwise it starts from id 1. A destination that may not keep it (no CREATE
// privilege) is verified from id 1 at each start, with one info line.
//
// Threads: Run() on its own thread until a stop or the lane ends; Interrupt() from any thread
// fails its blocked call.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "server/core/clock.h"
#include "server/core/options.h"
#include "server/core/position_waiters.h"
#include "server/core/proven_positions.h"
#include "server/core/signals.h"
#include "server/core/status_board.h"
#include "server/core/verify.h"

namespace slate::core {

class ContinuousVerifier {
 public:
  ContinuousVerifier(const EngineOptions& options, std::string name, VerifyTargetFactory source,
                     VerifyTargetFactory destination, const Signals& signals, uint64_t lane,
                     StatusBoard& board, const PositionWaiters& positions, ProvenPositions& proven);

  void Run();
  void Interrupt();

 private:
  // Opens both sessions; false (after reporting) when that failed.
  bool Open();
  void Close();
  // Compares (cursor_, to]; false on an error (reported; the sessions are closed).
  bool Step(int64_t to);
  void Failed(const absl::Status& status);
  void StartPass(absl::Time now);
  void EndPass(absl::Time now);
  void Report();
  // True while the destination is catching up (and not diverged): logs and reports each change.
  bool YieldsToCatchUp();
  // Publishes how far this run has proven the destination equal (0 while diverged).
  void Prove();
  // Goes on from the destination's checkpoint, when it holds; false on an error (reported).
  bool Restore();
  void GoOnFrom(const VerifyCheckpoint& checkpoint);
  // Saves the checkpoint when one is due (`force`: now).
  void Checkpoint(bool force);
  // True when `status` (of a load or save) says the destination keeps no checkpoint
  // (Unimplemented) or may not (FailedPrecondition: said once, with the fix); none is kept in
  // this run then.
  bool CannotKeep(const absl::Status& status);

  // Constant after construction.
  const EngineOptions& options_;
  const std::string name_;
  const VerifyTargetFactory open_source_;
  const VerifyTargetFactory open_destination_;
  const Signals& signals_;
  const uint64_t lane_;
  StatusBoard& board_;
  const PositionWaiters& positions_;
  ProvenPositions& proven_;
  const Clock& clock_;
  const int64_t step_;

  absl::Mutex mu_;  // the sessions, against Interrupt()
  std::unique_ptr<VerifyTarget> source_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<VerifyTarget> destination_ ABSL_GUARDED_BY(mu_);
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;

  // The verifier's own state (its thread only).
  int64_t cursor_ = 0;  // ids 1..cursor_ compared in this pass
  bool pass_ended_ = false;
  absl::Time pass_started_;
  absl::Time last_full_pass_ = absl::InfinitePast();  // when the last pass from id 1 ended
  int64_t passes_ = 0;
  Differences pass_differences_;  // found in this pass
  Differences last_pass_;         // found by the last pass that ended
  std::string error_;
  int failures_ = 0;
  bool yielding_ = false;     // the last YieldsToCatchUp()
  int64_t proven_up_to_ = 0;  // what Prove() published last
  bool restored_ = false;     // Restore() done
  bool keep_checkpoint_ = true;
  absl::Time last_saved_ = absl::InfinitePast();
  VerifyCheckpoint saved_;  // what was saved (or restored) last
};

}  // namespace slate::core
