#include "server/core/continuous_verify.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"

#include "server/common/log.h"
#include "server/core/backoff.h"

namespace slate::core {
namespace {

// Ids per checksum query: a tenth of a second of the budget, within bounds. Each query is a burst
// of database CPU on both sides (about 4 us per id and side); a second's worth at once (5000 ids,
// ~20 ms) delays the live copies that meet it: at 200 tx/s the live p99 went from 2.5-2.8 ms
// (verification off) to 4.9-5.7 ms with one query pair per second, 3.6 ms with ten.
int64_t StepFor(int64_t ids_per_second) {
  return std::clamp<int64_t>(ids_per_second / 10, 64, 100000);
}

// How often the checkpoint is saved while verifying: what a crash can cost to compare again.
constexpr absl::Duration kCheckpointEvery = absl::Seconds(10);

}  // namespace

ContinuousVerifier::ContinuousVerifier(const EngineOptions& options, std::string name,
                                       VerifyTargetFactory source, VerifyTargetFactory destination,
                                       const Signals& signals, uint64_t lane, StatusBoard& board,
                                       const PositionWaiters& positions, ProvenPositions& proven)
    : options_(options),
      name_(std::move(name)),
      open_source_(std::move(source)),
      open_destination_(std::move(destination)),
      signals_(signals),
      lane_(lane),
      board_(board),
      positions_(positions),
      proven_(proven),
      clock_(signals.clock()),
      step_(StepFor(options.verify_ids_per_second)) {}

void ContinuousVerifier::Interrupt() {
  absl::MutexLock lock(&mu_);
  interrupted_ = true;
  if (source_) source_->Interrupt();
  if (destination_) destination_->Interrupt();
}

bool ContinuousVerifier::Open() {
  absl::StatusOr<std::unique_ptr<VerifyTarget>> s = open_source_();
  absl::StatusOr<std::unique_ptr<VerifyTarget>> d =
      s.ok() ? open_destination_() : absl::StatusOr<std::unique_ptr<VerifyTarget>>(s.status());
  if (!d.ok()) {
    Failed(d.status());
    return false;
  }
  absl::MutexLock lock(&mu_);
  if (interrupted_) return false;
  source_ = std::move(*s);
  destination_ = std::move(*d);
  return true;
}

void ContinuousVerifier::Close() {
  absl::MutexLock lock(&mu_);
  source_.reset();
  destination_.reset();
}

void ContinuousVerifier::Failed(const absl::Status& status) {
  Close();
  ++failures_;
  error_ = std::string(status.message());
  if (failures_ == 1) {
    log::Warn(*log::Get("verify"), "continuous verification paused by an error; retrying",
              {{"destination", name_}, {"error", log::StatusText(status)}});
  }
  Report();
}

void ContinuousVerifier::StartPass(absl::Time now) {
  cursor_ = 0;
  pass_ended_ = false;
  pass_started_ = now;
  pass_differences_ = Differences();
}

void ContinuousVerifier::EndPass(absl::Time now) {
  pass_ended_ = true;
  last_full_pass_ = now;
  ++passes_;
  const bool was_diverged = last_pass_.total() > 0;
  const bool same_verdict = was_diverged && last_pass_.total() == pass_differences_.total();
  last_pass_ = pass_differences_;
  Prove();
  Checkpoint(/*force=*/true);
  // While a divergence stays as it was, passes repeat every poll interval: not worth a line each.
  log::Write(*log::Get("verify"), same_verdict ? spdlog::level::debug : spdlog::level::info,
             "verification pass complete",
             {{"destination", name_},
              {"verified_position", cursor_},
              {"seconds", absl::ToDoubleSeconds(now - pass_started_)},
              {"differing_rows", pass_differences_.total()}});
  if (was_diverged && last_pass_.total() == 0) {
    log::Info(*log::Get("verify"), "destination equals the source again",
              {{"destination", name_}, {"verified_position", cursor_}});
  }
  Report();
}

bool ContinuousVerifier::Step(int64_t to) {
  VerifyTarget* s = nullptr;
  VerifyTarget* d = nullptr;
  {
    absl::MutexLock lock(&mu_);
    s = source_.get();
    d = destination_.get();
  }
  const int64_t from = cursor_ + 1;
  absl::StatusOr<SummaryPair> pair = SummarizeBoth(*s, *d, from, to);
  if (!pair.ok()) {
    Failed(pair.status());
    return false;
  }
  if (pair->source != pair->destination) {
    Differences found;
    if (absl::Status st = CompareRange(*s, *d, from, to, &found); !st.ok()) {
      Failed(st);
      return false;
    }
    if (found.total() > 0) {
      const bool first = pass_differences_.total() == 0 && last_pass_.total() == 0;
      pass_differences_.Merge(found);
      if (first) {
        log::Warn(*log::Get("verify"), "destination diverged from the source",
                  {{"destination", name_},
                   {"first_id", found.first_id},
                   {"class", std::string(DiffClassName(found.first_class))},
                   {"differing_rows_in_range", found.total()},
                   {"range", absl::StrCat(from, "..", to)}});
      }
    }
  }
  cursor_ = to;
  const int64_t was_proven = proven_up_to_;
  Prove();
  // A difference found proves nothing any more: a restart must not go on from the old proof.
  Checkpoint(/*force=*/was_proven > 0 && proven_up_to_ == 0);
  if (failures_ > 0) {
    log::Info(*log::Get("verify"), "continuous verification goes on", {{"destination", name_}});
  }
  failures_ = 0;
  error_.clear();
  Report();
  return true;
}

void ContinuousVerifier::Report() {
  // The last complete pass's verdict, unless this pass has already found more: so the figures hold
  // steady while passes repeat, and a mend shows once a whole pass confirms it.
  const Differences& shown =
      pass_differences_.total() > last_pass_.total() ? pass_differences_ : last_pass_;
  board_.UpdateDestination(lane_, [&](DestinationStatus& st) {
    st.verify_enabled = true;
    st.verified_position = cursor_;
    st.last_full_verify = last_full_pass_;
    st.verify_passes = passes_;
    st.diverged = shown.total() > 0;
    st.diverged_at = shown.first_id;
    st.diverged_class = shown.total() > 0 ? std::string(DiffClassName(shown.first_class)) : "";
    st.differing_rows = shown.total();
    st.verify_error = error_;
    st.verify_waits_for_catch_up = yielding_;
  });
}

bool ContinuousVerifier::YieldsToCatchUp() {
  const bool yield = board_.Destination(lane_, clock_.Now()).state == DestinationState::kCatchingUp;
  if (yield == yielding_) return yield;
  yielding_ = yield;
  log::Debug(*log::Get("verify"),
             yield ? "continuous verification waits for the catch-up to end"
                   : "continuous verification goes on after the catch-up",
             {{"destination", name_}, {"verified_position", cursor_}});
  Report();
  return yield;
}

void ContinuousVerifier::Prove() {
  // Proven: this pass's ids so far, with nothing found in it nor in the last pass; a pass from
  // id 1 does not lower what an earlier clean pass proved.
  int64_t proven = 0;
  if (pass_differences_.total() == 0 && last_pass_.total() == 0) {
    proven = std::max(proven_up_to_, cursor_);
  }
  if (proven == proven_up_to_) return;
  proven_up_to_ = proven;
  proven_.Set(name_, proven);
}

bool ContinuousVerifier::Restore() {
  VerifyTarget* s = nullptr;
  VerifyTarget* d = nullptr;
  {
    absl::MutexLock lock(&mu_);
    s = source_.get();
    d = destination_.get();
  }
  absl::StatusOr<std::optional<VerifyCheckpoint>> cp = d->LoadCheckpoint();
  if (!cp.ok() && !CannotKeep(cp.status())) {
    Failed(cp.status());
    return false;
  }
  if (cp.ok() && cp->has_value() && (*cp)->proven_through > 0) {
    const VerifyCheckpoint& c = **cp;
    // The same table, and the row it names on both sides as it was when proven: the same
    // source, and a destination neither rebuilt nor emptied since.
    absl::StatusOr<SummaryPair> row = SummarizeBoth(*s, *d, c.proven_through, c.proven_through);
    if (!row.ok()) {
      Failed(row.status());
      return false;
    }
    if (c.table_replaced || row->source.count != 1 || row->source != row->destination ||
        row->destination.digest != c.digest) {
      log::Info(*log::Get("verify"),
                "the destination's verification checkpoint does not match the databases; "
                "verifying from id 1",
                {{"destination", name_}, {"checkpoint", c.proven_through}});
    } else {
      GoOnFrom(c);
    }
  }
  restored_ = true;
  return true;
}

void ContinuousVerifier::GoOnFrom(const VerifyCheckpoint& c) {
  cursor_ = std::min(c.pass_through, c.proven_through);
  pass_started_ = c.pass_started;
  last_full_pass_ = c.last_full_pass;
  pass_ended_ = c.last_full_pass != absl::InfinitePast() && c.last_full_pass >= c.pass_started;
  proven_up_to_ = c.proven_through;
  proven_.Set(name_, proven_up_to_);
  last_saved_ = clock_.Now();
  saved_ = c;
  log::Info(
      *log::Get("verify"), "continuous verification goes on from its checkpoint",
      {{"destination", name_},
       {"verified_position", cursor_},
       {"proven_position", proven_up_to_},
       {"pass_started", absl::FormatTime(absl::RFC3339_sec, pass_started_, absl::UTCTimeZone())}});
  Report();
}

bool ContinuousVerifier::CannotKeep(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kUnimplemented) {
    keep_checkpoint_ = false;  // a target that keeps none: nothing to say
    return true;
  }
  if (status.code() != absl::StatusCode::kFailedPrecondition) return false;
  keep_checkpoint_ = false;
  log::Info(*log::Get("verify"),
            "continuous verification cannot keep its checkpoint in the destination, so each "
            "start verifies it from id 1; to keep it, let the replicator's user create tables "
            "there (GRANT CREATE ON SCHEMA public)",
            {{"destination", name_}, {"error", log::StatusText(status)}});
  return true;
}

void ContinuousVerifier::Checkpoint(bool force) {
  if (!keep_checkpoint_ || !restored_) return;
  const absl::Time now = clock_.Now();
  if (!force && now - last_saved_ < kCheckpointEvery) return;
  VerifyTarget* d = nullptr;
  {
    absl::MutexLock lock(&mu_);
    d = destination_.get();
  }
  if (d == nullptr) return;
  VerifyCheckpoint c;
  c.pass_started = pass_started_;
  c.last_full_pass = last_full_pass_;
  c.proven_through = proven_up_to_;  // 0 while a difference stands
  if (c.proven_through > 0) c.pass_through = cursor_;
  if (c.pass_started == saved_.pass_started && c.pass_through == saved_.pass_through &&
      c.proven_through == saved_.proven_through && c.last_full_pass == saved_.last_full_pass) {
    return;  // nothing new
  }
  last_saved_ = now;
  if (c.proven_through > 0) {
    absl::StatusOr<RangeSummary> row = d->Summarize(c.proven_through, c.proven_through);
    if (!row.ok() || row->count != 1) return;  // the next step reports a lost session
    c.digest = row->digest;
  }
  const absl::Status saved = d->SaveCheckpoint(c);
  if (saved.ok()) {
    saved_ = c;
  } else if (!CannotKeep(saved)) {
    log::Debug(*log::Get("verify"), "saving the verification checkpoint failed",
               {{"destination", name_}, {"error", log::StatusText(saved)}});
  }
}

void ContinuousVerifier::Run() {
  if (options_.verify_ids_per_second <= 0) return;
  Backoff backoff(options_.initial_retry_delay, options_.max_retry_delay);
  StartPass(clock_.Now());
  Report();
  while (!signals_.stopping(lane_)) {
    bool open = false;
    {
      absl::MutexLock lock(&mu_);
      open = source_ != nullptr;
    }
    if (!open && !Open()) {
      if (!signals_.SleepUntil(clock_.Now() + backoff.Next(), lane_)) break;
      continue;
    }
    if (!restored_ && !Restore()) {
      if (!signals_.SleepUntil(clock_.Now() + backoff.Next(), lane_)) break;
      continue;
    }
    const absl::Time now = clock_.Now();
    const int64_t position = positions_.Position(name_);
    if (position < cursor_) {
      // Gone on from a checkpoint, before the destination loop has reported its position.
      if (!signals_.SleepUntil(now + options_.poll_interval, lane_)) break;
      continue;
    }
    if (cursor_ >= position) {
      // Every committed row is verified in this pass.
      if (!pass_ended_ && cursor_ > 0) EndPass(now);
      Checkpoint(/*force=*/false);  // the last rows verified, once due
      absl::Time next_pass = absl::InfiniteFuture();
      if (options_.verify_full_pass_every > absl::ZeroDuration()) {
        next_pass = pass_started_ + options_.verify_full_pass_every;
      }
      if (last_pass_.total() > 0 && pass_ended_) {
        next_pass = std::min(next_pass, last_full_pass_ + options_.poll_interval);
      }
      if (pass_ended_ && now >= next_pass) {
        StartPass(now);
        continue;
      }
      // New commits are looked for every poll interval.
      if (!signals_.SleepUntil(std::min(next_pass, now + options_.poll_interval), lane_)) break;
      continue;
    }
    if (YieldsToCatchUp()) {
      if (!signals_.SleepUntil(now + options_.poll_interval, lane_)) break;
      continue;
    }
    const int64_t to = std::min(position, cursor_ + step_);
    const int64_t ids = to - cursor_;
    if (!Step(to)) {
      if (!signals_.SleepUntil(clock_.Now() + backoff.Next(), lane_)) break;
      continue;
    }
    backoff.Reset();
    // The budget: `ids` at verify_ids_per_second.
    const absl::Duration spend = absl::Seconds(static_cast<double>(ids) /
                                               static_cast<double>(options_.verify_ids_per_second));
    if (!signals_.SleepUntil(now + spend, lane_)) break;
  }
  Close();
}

}  // namespace slate::core
