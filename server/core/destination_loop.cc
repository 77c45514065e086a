#include "server/core/destination_loop.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

#include "server/common/log.h"
#include "server/core/validation.h"

namespace slate::core {

DestinationLoop::DestinationLoop(const EngineOptions& options, DestinationSetup& setup,
                                 Signals& signals, uint64_t lane, DestinationReport& report,
                                 Activity& activity, PositionWaiters* waiters, WriterShares& shares)
    : options_(options),
      setup_(setup),
      signals_(signals),
      lane_(lane),
      waiters_(waiters),
      shares_(shares),
      clock_(signals.clock()),
      report_(report),
      activity_(activity),
      backoff_(options.initial_retry_delay, options.max_retry_delay),
      bulk_(options, setup.indexes, signals, lane, report) {
  sinks_.push_back(setup_.sink.get());
  for (auto& helper : setup_.helpers) sinks_.push_back(helper.get());
  writers_ = static_cast<int>(sinks_.size());
}

void DestinationLoop::Interrupt() {
  setup_.sink->Interrupt();
  for (auto& helper : setup_.helpers) helper->Interrupt();
  setup_.source->Interrupt();
}

void DestinationLoop::Run() {
  uint64_t seen = 0;
  while (!signals_.stopping(lane_)) {
    if (!connected_) {
      BusyScope busy(activity_);
      if (!Connect()) {
        if (failed_) return;  // failed for good: stays `failed`, not retried
        continue;
      }
    }
    const LaneControl control = signals_.Lane(lane_);
    if (control.paused) {
      if (!HoldPaused()) break;
      continue;
    }
    // Wake-ups before this point are served by this pass: it sees everything they announce.
    seen = signals_.wake_generation();
    absl::StatusOr<PassResult> pass;
    {
      BusyScope busy(activity_);
      pass = Pass();
    }
    if (!pass.ok()) {
      HandleError(pass.status());
      if (failed_) return;  // failed for good: stays `failed`
      continue;
    }
    if (pass->end == PassEnd::kStopped) break;
    backoff_.Reset();
    if (pass->end == PassEnd::kPaused) continue;
    if (bulk_.loading()) {
      StartCatchingUp(clock_.Now());  // shown as catching up until the tail is copied too
      absl::StatusOr<bool> built = bulk_.BuildAll(position_);
      if (!built.ok()) {
        HandleError(built.status());
        if (failed_) return;
        continue;
      }
      if (!*built) break;  // stopping
      continue;            // the tail, copied with the indexes in place
    }
    report_.Heartbeat(clock_.Now());
    absl::Duration wait = options_.poll_interval;
    if (AfterPass(*pass, &wait)) continue;  // the next pass at once
    // Coalescing: however many notifications arrived during the pass, one more pass follows.
    if (!signals_.WaitForWakeup(&seen, clock_.Now() + wait, lane_, control.version)) break;
  }
  Disconnect();
  report_.SetState(DestinationState::kStopped, position_);
  log::Info(report_.log(), "destination stopped",
            {{"destination", report_.name()}, {"position", position_}});
  if (bulk_.loading()) {
    log::Warn(report_.log(),
              "destination stopped with secondary indexes set aside by its bulk load",
              {{"destination", report_.name()},
               {"fix",
                "the next run with this destination in its config builds them; or run the "
                "definitions in its table slate_replicator_pending_indexes by hand, then drop "
                "that table"}});
  }
}

bool DestinationLoop::HoldPaused() {
  catch_up_.Abandon();        // a catch-up's figures do not include a pause
  bool oldest_known = false;  // the ts of the first event it lacks is on the board
  uint64_t seen = signals_.wake_generation();
  while (true) {
    const LaneControl control = signals_.Lane(lane_);
    if (!control.paused) break;
    report_.Paused(control, position_);
    {
      BusyScope busy(activity_);
      absl::StatusOr<bool> known = CheckWhilePaused();
      if (!known.ok()) {
        HandleError(known.status());  // reconnects, then holds again
        return !signals_.stopping(lane_);
      }
      oldest_known = *known;
    }
    report_.Heartbeat(clock_.Now());
    const absl::Time next = clock_.Now() + options_.poll_interval;
    // Until the first event it lacks is known, a notification brings it (its lag in seconds
    // starts then); afterwards only the poll keeps the heartbeat.
    const bool go_on = oldest_known ? signals_.WaitForLaneChange(lane_, control.version, next)
                                    : signals_.WaitForWakeup(&seen, next, lane_, control.version);
    if (!go_on) return false;
  }
  report_.Resumed(position_);
  // What it missed meanwhile is a catch-up (the next pass says how far behind it is).
  catch_up_.Start(clock_.Now(), events_copied_);
  report_.SetState(DestinationState::kCatchingUp, position_);
  return true;
}

// While paused: the destination still answers, and the ts of the first event it lacks (for its
// lag in seconds) is read from the source by id, one row. True when there is one.
absl::StatusOr<bool> DestinationLoop::CheckWhilePaused() {
  if (absl::Status alive = setup_.sink->Ping(); !alive.ok()) return alive;
  absl::StatusOr<std::unique_ptr<RowReader>> reader =
      setup_.source->ReadAfter(position_, position_ + 1, 1);
  if (!reader.ok()) return reader.status();
  EventRow row;
  absl::StatusOr<bool> has = (*reader)->Next(&row);
  if (!has.ok()) return has.status();
  if (*has) {
    report_.OldestMissing(row.ts);
    signals_.NoteSourceMax(row.id);
  }
  return *has;
}

// Applies the hole policy to a pass that ended well; true when the next pass should run at once.
bool DestinationLoop::AfterPass(const PassResult& pass, absl::Duration* wait) {
  const absl::Time now = clock_.Now();
  const HoleDecision d = DecideHole(hole_, pass, position_, now, options_.skip_holes_after);
  const int64_t waited_at = hole_.at;
  hole_ = d.next;
  switch (d.action) {
    case HoleAction::kFilled:
      log::Info(report_.log(), "hole filled", {{"destination", report_.name()}, {"id", waited_at}});
      [[fallthrough]];
    case HoleAction::kNone:
      report_.Synced(position_);
      return false;
    case HoleAction::kRetryNow:
    case HoleAction::kWait:
      break;
  }
  if (d.new_hole) {
    log::Warn(report_.log(), "waiting at a hole: the source lacks an id while later ids exist",
              {{"destination", report_.name()},
               {"missing_id", pass.hole_first_missing},
               {"next_present_id", pass.hole_next_present},
               {"fix",
                "an insert bypassed insert_events or is not committed yet; it is held "
                "until the id appears (skipHolesAfter opts in to passing it)"}});
  }
  if (d.action == HoleAction::kRetryNow && !d.skipping) return true;  // a bounded pass
  report_.AtHole(position_, pass.hole_first_missing, hole_.since, pass.hole_next_ts);
  if (d.skipping) {
    log::Error(report_.log(), "skipping a hole (skipHolesAfter): these ids will be missing here",
               {{"destination", report_.name()},
                {"first_missing_id", pass.hole_first_missing},
                {"last_missing_id", pass.hole_next_present - 1}});
    return true;
  }
  *wait = std::min(*wait, d.wait);
  return false;
}

bool DestinationLoop::Connect() {
  report_.SetState(DestinationState::kConnecting, position_);
  if (!startup_checked_ && setup_.startup_check) {
    if (absl::Status s = setup_.startup_check(); !s.ok()) {
      HandleError(s);
      return false;
    }
    log::Info(report_.log(), "start-up checks passed", {{"destination", report_.name()}});
  }
  startup_checked_ = true;
  absl::Status s = setup_.sink->Connect();
  for (auto& helper : setup_.helpers) {
    if (s.ok()) s = helper->Connect();
  }
  if (s.ok()) s = setup_.source->Connect();
  absl::StatusOr<int64_t> position = s.ok() ? setup_.sink->Position() : s;
  if (!position.ok()) {
    HandleError(position.status());
    return false;
  }
  if (absl::Status same = CheckSameHistory(); !same.ok()) {
    HandleError(same);
    return false;
  }
  if (absl::Status bulk = bulk_.Resume(); !bulk.ok()) {
    HandleError(bulk);
    return false;
  }
  connected_ = true;
  ever_connected_ = true;
  head_known_ = false;
  position_ = *position;
  report_.Position(position_);
  if (waiters_ != nullptr) waiters_->Committed(report_.name(), position_);
  log::Info(report_.log(), "destination connected",
            {{"destination", report_.name()}, {"dsn", setup_.dsn}, {"position", position_}});
  return true;
}

// After every (re)connect: the destination must still be a copy of this source.
absl::Status DestinationLoop::CheckSameHistory() {
  auto dest = setup_.sink->First();
  if (!dest.ok()) return dest.status();
  if (!dest->has_value()) return absl::OkStatus();
  auto source = setup_.source->First();
  if (!source.ok()) return source.status();
  const std::string who = absl::StrCat("destination ", report_.name());
  if (!source->has_value()) {
    return absl::DataLossError(absl::StrCat(who,
                                            " has events but the source is empty: wrong "
                                            "source, or restore it with restore_events"));
  }
  const Check check = CompareFirstEvents(**source, **dest, who);
  if (check.result == CheckResult::kFail) return absl::DataLossError(check.message);
  return absl::OkStatus();
}

void DestinationLoop::Disconnect() {
  for (auto& helper : setup_.helpers) {
    helper->AbortBatch();
    helper->Close();
  }
  setup_.sink->AbortBatch();
  setup_.sink->Close();
  setup_.source->Close();
  connected_ = false;
}

absl::StatusOr<PassResult> DestinationLoop::Pass() {
  pass_start_ = clock_.Now();
  batches_this_pass_ = 0;
  committed_this_pass_ = 0;
  uncommitted_starts_.clear();
  report_.PassStarted();
  const KnownHead known = signals_.head();
  // The source's head costs a round trip: skip it when a notification already told of ids past
  // this destination (the common case when following live writes); the pass itself reads
  // everything up to the head and reports it.
  int64_t head_max = known.max_id;
  if (!head_known_ || head_max <= position_) {
    absl::StatusOr<SourceHead> head = setup_.source->Head();
    if (!head.ok()) return head.status();
    head_known_ = true;
    signals_.NoteSourceHead(head->max_id, head->newest_event_time);
    head_max = std::max(head_max, head->max_id);
    if (head->max_id < position_) {
      return absl::DataLossError(absl::StrCat(
          "destination is ahead of the source: its position is ", position_,
          " but the source's highest id is ", head->max_id,
          "; it belongs to another source, or the source was rebuilt without restore_events. "
          "Point it at the right source or re-create it with slatectl init-db"));
    }
    if (head->max_id - position_ > options_.max_events_per_write) StartCatchingUp(pass_start_);
  }
  if (absl::Status bulk = bulk_.MaybeBegin(position_, head_max - position_); !bulk.ok()) {
    return bulk;
  }
  PassOptions options;
  options.max_events_per_write = options_.max_events_per_write;
  options.up_to_id = hole_.bounded_up_to;
  options.skip_hole_to = hole_.skip_to;
  options.expected_rows = std::max<int64_t>(0, head_max - position_);
  if (sinks_.size() > 1 && options.expected_rows > options.max_events_per_write) {
    writers_claim_.emplace(shares_, setup_.machine);
  }
  absl::StatusOr<PassResult> result =
      RunCopyPass(*setup_.source, sinks_, position_, options, *this);
  writers_claim_.reset();
  if (!result.ok() || result->end == PassEnd::kStopped) return result;
  if (committed_this_pass_ == 0) {
    // Nothing was written: make sure the destination is still there before this pass counts
    // as a heartbeat.
    if (absl::Status alive = setup_.sink->Ping(); !alive.ok()) return alive;
  }
  if (result->end == PassEnd::kCaughtUp && hole_.bounded_up_to == 0) {
    if (result->position_ts != 0) {
      // Read to the end of the source's snapshot: its last row was the head.
      signals_.NoteSourceHead(position_, EventTime(result->position_ts));
    }
    // A bulk load's catch-up ends after its index builds, with the tail.
    auto done = bulk_.loading() ? std::nullopt : catch_up_.Finish(clock_.Now(), events_copied_);
    if (done) {
      log::Info(report_.log(), "caught up",
                {{"destination", report_.name()},
                 {"position", position_},
                 {"events", done->events},
                 {"seconds", done->seconds},
                 {"events_per_second", done->events_per_second}});
    }
  }
  return result;
}

int DestinationLoop::WritersNow(int sinks) {
  const int now = writers_claim_ ? writers_claim_->Share(sinks) : sinks;
  if (writers_claim_ && now != writers_) {
    log::Info(report_.log(), "writer sessions",
              {{"destination", report_.name()},
               {"sessions", now},
               {"of", sinks},
               {"destinations_copying_on_its_machine", shares_.Copying(setup_.machine)}});
  }
  writers_ = now;
  return now;
}

void DestinationLoop::StartCatchingUp(absl::Time since) {
  if (catch_up_.Start(since, events_copied_)) {
    report_.SetState(DestinationState::kCatchingUp, position_);
  }
}

// Disconnects; a final error marks the destination failed for good (failed_), any other waits
// out the backoff before the next attempt.
void DestinationLoop::HandleError(const absl::Status& status) {
  Disconnect();
  catch_up_.Abandon();
  const absl::Time now = clock_.Now();
  if (status.code() == absl::StatusCode::kDataLoss ||
      status.code() == absl::StatusCode::kInvalidArgument) {
    log::Error(report_.log(), "destination failed; the others go on",
               {{"destination", report_.name()}, {"error", log::StatusText(status)}});
    report_.Error(status, position_, now, absl::InfinitePast());
    failed_ = true;
    return;
  }
  const absl::Duration delay = backoff_.Next();
  log::Warn(report_.log(), "destination error; retrying",
            {{"destination", report_.name()},
             {"error", log::StatusText(status)},
             {"attempt", backoff_.attempts()},
             {"retry_in_seconds", absl::ToDoubleSeconds(delay)}});
  report_.Error(status, position_, now, now + delay, /*connecting=*/!ever_connected_);
  signals_.SleepUntil(now + delay, lane_);
}

void DestinationLoop::OnBatchStart(int64_t first_ts) {
  uncommitted_starts_.push_back(first_ts);
  if (++batches_this_pass_ == 2) StartCatchingUp(pass_start_);
  if (uncommitted_starts_.size() == 1) report_.OldestMissing(first_ts);
}

void DestinationLoop::OnBatchCommitted(int64_t position, int64_t events, int64_t bytes) {
  if (!uncommitted_starts_.empty()) uncommitted_starts_.pop_front();
  const int64_t next_oldest = uncommitted_starts_.empty() ? 0 : uncommitted_starts_.front();
  position_ = position;
  events_copied_ += events;
  ++committed_this_pass_;
  activity_.Tick();
  const absl::Time now = clock_.Now();
  report_.Committed(position, next_oldest, events, bytes, now);
  signals_.NoteSourceMax(position);
  if (waiters_ != nullptr) waiters_->Committed(report_.name(), position);
  log::Debug(report_.log(), "batch committed",
             {{"destination", report_.name()},
              {"position", position},
              {"events", events},
              {"bytes", bytes}});
  if (catch_up_.ProgressDue(now, options_.progress_interval)) {
    const DestinationStatus d = report_.Snapshot(now);
    const double rate = d.events_per_second;
    log::Info(report_.log(), "catching up",
              {{"destination", report_.name()},
               {"position", d.position},
               {"events_remaining", d.lag_events},
               {"events_per_second", rate},
               {"eta_seconds", rate > 0 ? static_cast<double>(d.lag_events) / rate : -1.0}});
  }
}

}  // namespace slate::core
