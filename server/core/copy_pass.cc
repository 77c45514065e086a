#include "server/core/copy_pass.h"

#include <algorithm>
#include <deque>

#include "absl/strings/str_cat.h"

#include "server/common/status_macros.h"

namespace slate::core {
namespace {

// The batches of one pass: at most one open (being written), then those ended and waiting to
// commit, oldest first. Rolls back whatever is left uncommitted when destroyed.
class Pipeline {
 public:
  Pipeline(const std::vector<EventSink*>& sinks, PassObserver& observer)
      : sinks_(sinks), observer_(observer) {}
  ~Pipeline() { AbortAll(); }

  // Sends the first batch's start before the source is read, so both databases work at once
  // (rows are expected: a wasted start costs a rollback).
  absl::Status SendFirstBegin(int64_t position) {
    presend_ = true;
    return sinks_[0]->SendBeginBatch(position);
  }

  bool open() const { return open_ != nullptr; }
  int64_t open_rows() const { return open_rows_; }

  // Starts a batch after `last_id` (the last id of the batch before, committed or not) on the
  // next sink, committing the oldest pending batch first if that sink still holds it.
  absl::Status Begin(int64_t last_id, int64_t first_ts, PassResult& result) {
    const int all = static_cast<int>(sinks_.size());
    const size_t writers = static_cast<size_t>(std::clamp(observer_.WritersNow(all), 1, all));
    EventSink* sink = sinks_[next_ % writers];
    // A sink holds one batch at a time, and at most `writers` are in flight (fewer writers than
    // the batch before had: the older batches commit first).
    while (!pending_.empty() && (pending_.size() >= writers || Holds(sink))) {
      RETURN_IF_ERROR(CommitOldest(result));
    }
    observer_.OnBatchStart(first_ts);
    presend_ = false;  // the first Begin is on sinks_[0] at the pass's position: it completes it
    absl::Status s =
        pending_.empty() ? sink->BeginBatch(last_id) : sink->BeginFollowingBatch(last_id);
    if (!s.ok()) return s;
    open_ = sink;
    open_rows_ = 0;
    ++next_;
    return absl::OkStatus();
  }

  absl::Status Write(const EventRow& row) {
    ++open_rows_;
    open_last_id_ = row.id;
    open_last_ts_ = row.ts;
    return open_->Write(row);
  }

  // Sends the end of the open batch; it commits later, in order.
  absl::Status End() {
    EventSink* sink = open_;
    open_ = nullptr;
    pending_.push_back(Pending{sink, open_last_id_, open_last_ts_, open_rows_});
    return sink->EndBatch();
  }

  absl::Status CommitAll(PassResult& result) {
    if (open_ != nullptr) {
      RETURN_IF_ERROR(End());
    }
    return CommitPending(result);
  }

  // Commits the batches already ended (each holds whole source transactions).
  absl::Status CommitPending(PassResult& result) {
    while (!pending_.empty()) {
      RETURN_IF_ERROR(CommitOldest(result));
    }
    return absl::OkStatus();
  }

  // Ends the pass early: the open batch is rolled back; the ended ones are whole and still
  // commit (a failure there leaves them to the destructor, which rolls back the rest).
  void Settle(PassResult& result) {
    AbortOpen();
    (void)CommitPending(result);
  }
  // Settle(), then returns `error`.
  absl::Status Fail(absl::Status error, PassResult& result) {
    Settle(result);
    return error;
  }

  // Rolls back the open batch only; pending batches stay (they hold whole source transactions).
  void AbortOpen() {
    if (open_ != nullptr) open_->AbortBatch();
    open_ = nullptr;
  }

  void AbortAll() {
    if (presend_) sinks_[0]->AbortBatch();
    presend_ = false;
    const bool any = open_ != nullptr || !pending_.empty();
    AbortOpen();
    // Newest first: a batch never outlives the one before it.
    while (!pending_.empty()) {
      pending_.back().sink->AbortBatch();
      pending_.pop_back();
    }
    if (any) observer_.OnBatchesAbandoned();
  }

 private:
  struct Pending {
    EventSink* sink;
    int64_t last_id;
    int64_t last_ts;
    int64_t rows;
  };

  bool Holds(const EventSink* sink) const {
    for (const Pending& p : pending_) {
      if (p.sink == sink) return true;
    }
    return false;
  }

  absl::Status CommitOldest(PassResult& result) {
    Pending p = pending_.front();
    pending_.pop_front();
    auto bytes = p.sink->CommitBatch();
    if (!bytes.ok()) return bytes.status();
    result.position = p.last_id;
    result.position_ts = p.last_ts;
    observer_.OnBatchCommitted(p.last_id, p.rows, *bytes);
    return absl::OkStatus();
  }

  const std::vector<EventSink*>& sinks_;
  PassObserver& observer_;
  EventSink* open_ = nullptr;
  int64_t open_rows_ = 0;
  int64_t open_last_id_ = 0;
  int64_t open_last_ts_ = 0;
  std::deque<Pending> pending_;
  size_t next_ = 0;
  bool presend_ = false;  // SendFirstBegin was called and no batch began yet
};

}  // namespace

absl::StatusOr<PassResult> RunCopyPass(EventSource& source, const std::vector<EventSink*>& sinks,
                                       int64_t position, const PassOptions& options,
                                       PassObserver& observer) {
  PassResult result;
  result.position = position;
  if (sinks.empty()) return absl::InvalidArgumentError("RunCopyPass needs at least one sink");
  Pipeline batches(sinks, observer);
  // The read first: it is what the rows wait for (the destination answers its BEGIN sooner).
  auto reader_or = source.ReadAfter(position, options.up_to_id, options.expected_rows);
  if (!reader_or.ok()) return reader_or.status();
  std::unique_ptr<RowReader> reader = std::move(*reader_or);
  if (options.expected_rows > 0) {
    RETURN_IF_ERROR(batches.SendFirstBegin(position));
  }
  int64_t last_id = position;  // last row written (committed or not)
  int64_t last_ts = 0;
  int64_t group_first_id = 0;  // first id of the source transaction being written

  EventRow row;
  while (true) {
    if (observer.StopRequested()) {
      batches.Settle(result);
      result.end = PassEnd::kStopped;
      return result;
    }
    auto has = reader->Next(&row);
    if (!has.ok()) return batches.Fail(has.status(), result);
    if (!*has) break;

    const int64_t expected = last_id + 1;
    if (row.id < expected) {
      return batches.Fail(
          absl::DataLossError(absl::StrCat("the source returned id ", row.id, " after id ", last_id,
                                           ": ids must be unique and ascending")),
          result);
    }
    if (row.id > expected && row.id != options.skip_hole_to) {
      result.end = PassEnd::kHole;
      result.hole_first_missing = expected;
      result.hole_next_present = row.id;
      result.hole_next_ts = row.ts;
      if (batches.open() && row.ts == last_ts) {
        // The hole is inside a source transaction: commit nothing of that transaction (nor of
        // the open batch it is in); what is pending before it is whole and commits.
        batches.AbortOpen();
        result.bounded_retry_up_to = group_first_id - 1;
      }
      RETURN_IF_ERROR(batches.CommitAll(result));
      return result;
    }

    if (!batches.open()) {
      if (absl::Status s = batches.Begin(last_id, row.ts, result); !s.ok()) {
        return batches.Fail(s, result);
      }
    } else if (batches.open_rows() >= options.max_events_per_write && row.ts != last_ts) {
      if (observer.PauseRequested()) {
        RETURN_IF_ERROR(batches.CommitAll(result));
        result.end = PassEnd::kPaused;
        return result;
      }
      RETURN_IF_ERROR(batches.End());
      if (absl::Status s = batches.Begin(last_id, row.ts, result); !s.ok()) {
        return batches.Fail(s, result);
      }
    }
    if (batches.open_rows() == 0 || row.ts != last_ts) group_first_id = row.id;
    if (absl::Status s = batches.Write(row); !s.ok()) return batches.Fail(s, result);
    observer.OnRow();
    last_id = row.id;
    last_ts = row.ts;
  }
  RETURN_IF_ERROR(batches.CommitAll(result));
  result.end = PassEnd::kCaughtUp;
  return result;
}

}  // namespace slate::core
