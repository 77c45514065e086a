#include "server/core/copy_pass.h"

#include "absl/strings/str_cat.h"

namespace slate::core {
namespace {

// Owns the open destination batch: rolls it back unless committed.
class Batch {
 public:
  explicit Batch(EventSink& sink) : sink_(sink) {}
  ~Batch() {
    if (open_) sink_.AbortBatch();
  }
  bool open() const { return open_; }
  int64_t rows() const { return rows_; }

  absl::Status Begin(int64_t position) {
    absl::Status s = sink_.BeginBatch(position);
    open_ = s.ok();
    rows_ = 0;
    return s;
  }
  absl::Status Write(const EventRow& row) {
    ++rows_;
    return sink_.Write(row);
  }
  absl::StatusOr<int64_t> Commit() {
    open_ = false;
    return sink_.CommitBatch();
  }
  void Abort() {
    if (open_) sink_.AbortBatch();
    open_ = false;
  }

 private:
  EventSink& sink_;
  bool open_ = false;
  int64_t rows_ = 0;
};

}  // namespace

absl::StatusOr<PassResult> RunCopyPass(EventSource& source, EventSink& sink, int64_t position,
                                       const PassOptions& options, PassObserver& observer) {
  PassResult result;
  result.position = position;
  auto reader_or = source.ReadAfter(position, options.up_to_id);
  if (!reader_or.ok()) return reader_or.status();
  std::unique_ptr<RowReader> reader = std::move(*reader_or);

  Batch batch(sink);
  int64_t last_id = position;  // last row written to the open batch
  int64_t last_ts = 0;
  int64_t group_first_id = 0;  // first id of the source transaction being written

  auto commit = [&]() -> absl::Status {
    const int64_t rows = batch.rows();
    auto bytes = batch.Commit();
    if (!bytes.ok()) return bytes.status();
    result.position = last_id;
    observer.OnBatchCommitted(last_id, rows, *bytes);
    return absl::OkStatus();
  };

  EventRow row;
  while (true) {
    if (observer.StopRequested()) {
      batch.Abort();
      result.end = PassEnd::kStopped;
      return result;
    }
    auto has = reader->Next(&row);
    if (!has.ok()) return has.status();
    if (!*has) break;

    const int64_t expected = last_id + 1;
    if (row.id < expected) {
      return absl::DataLossError(absl::StrCat("the source returned id ", row.id, " after id ",
                                              last_id, ": ids must be unique and ascending"));
    }
    if (row.id > expected && row.id != options.skip_hole_to) {
      result.end = PassEnd::kHole;
      result.hole_first_missing = expected;
      result.hole_next_present = row.id;
      if (batch.open()) {
        if (row.ts == last_ts) {
          // The hole is inside a source transaction: commit nothing of that transaction.
          batch.Abort();
          result.bounded_retry_up_to = group_first_id - 1;
        } else if (absl::Status s = commit(); !s.ok()) {
          return s;
        }
      }
      return result;
    }

    if (!batch.open()) {
      observer.OnBatchStart(row.ts);
      if (absl::Status s = batch.Begin(result.position); !s.ok()) return s;
    } else if (batch.rows() >= options.max_events_per_write && row.ts != last_ts) {
      if (absl::Status s = commit(); !s.ok()) return s;
      observer.OnBatchStart(row.ts);
      if (absl::Status s = batch.Begin(result.position); !s.ok()) return s;
    }
    if (!batch.open() || batch.rows() == 0 || row.ts != last_ts) group_first_id = row.id;
    if (absl::Status s = batch.Write(row); !s.ok()) return s;
    observer.OnRow();
    last_id = row.id;
    last_ts = row.ts;
  }
  if (batch.open()) {
    if (absl::Status s = commit(); !s.ok()) return s;
  }
  result.end = PassEnd::kCaughtUp;
  return result;
}

}  // namespace slate::core
