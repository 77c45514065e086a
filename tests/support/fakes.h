#pragma once

// In-memory fakes of the engine's interfaces (server/core/interfaces.h), for unit tests of the
// core. Thread-safe where the engine shares them across threads (FakeSourceDb, FakeSinkDb,
// FakeWakeups). Faults are injected by queueing statuses that the next calls return.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

#include "server/core/interfaces.h"
#include "server/core/verify.h"

namespace slate::testing {

struct FakeRow {
  int64_t id;
  int64_t ts;
  std::string encoded;
};

// The source's events table.
class FakeSourceDb {
 public:
  // Appends one source transaction of `n` rows (consecutive ids, one ts).
  void AddTransaction(int n);
  // Adds a row with an explicit id (holes, out-of-order commits).
  void AddRow(int64_t id, int64_t ts);
  std::vector<FakeRow> Rows() const;
  int64_t MaxId() const;

 private:
  friend class FakeEventSource;
  mutable absl::Mutex mu_;
  std::map<int64_t, FakeRow> rows_ ABSL_GUARDED_BY(mu_);
  int64_t next_ts_ ABSL_GUARDED_BY(mu_) = 1000;
};

// Faults: each queued status is returned by the next call of that kind.
struct Faults {
  absl::Mutex mu;
  std::deque<absl::Status> connect ABSL_GUARDED_BY(mu);
  std::deque<absl::Status> begin ABSL_GUARDED_BY(mu);
  std::deque<absl::Status> write ABSL_GUARDED_BY(mu);
  std::deque<absl::Status> commit ABSL_GUARDED_BY(mu);
  absl::Status Take(std::deque<absl::Status>& q) {
    absl::MutexLock lock(&mu);
    if (q.empty()) return absl::OkStatus();
    absl::Status s = q.front();
    q.pop_front();
    return s;
  }
  // A status returned by every connect until cleared (an outage).
  absl::Status outage ABSL_GUARDED_BY(mu);
  // Writes block (a blackholed connection) until the sink is interrupted; counts interruptions.
  bool hang_writes ABSL_GUARDED_BY(mu) = false;
  bool interrupted ABSL_GUARDED_BY(mu) = false;
  int interruptions ABSL_GUARDED_BY(mu) = 0;
  // The write of this id (0: none) holds its batch open: it blocks, with `holding` set, until
  // `release` is set (or the sink is interrupted), then goes on.
  int64_t hold_at_id ABSL_GUARDED_BY(mu) = 0;
  bool holding ABSL_GUARDED_BY(mu) = false;
  bool release ABSL_GUARDED_BY(mu) = false;
  // Batches rolled back with rows in them.
  int aborted_batches ABSL_GUARDED_BY(mu) = 0;
  // Sessions: connects that succeeded, and whether one is open (its writer lock held).
  int connects ABSL_GUARDED_BY(mu) = 0;
  bool connected ABSL_GUARDED_BY(mu) = false;
};

class FakeEventSource : public core::EventSource {
 public:
  explicit FakeEventSource(const FakeSourceDb& db) : db_(db) {}
  absl::Status Connect() override { return absl::OkStatus(); }
  void Close() override {}
  void Interrupt() override {}
  absl::StatusOr<core::SourceHead> Head() override;
  absl::StatusOr<std::optional<core::FirstEvent>> First() override;
  absl::StatusOr<std::unique_ptr<core::RowReader>> ReadAfter(int64_t after_id, int64_t up_to_id,
                                                             int64_t expected_rows) override;

 private:
  const FakeSourceDb& db_;
};

// A destination's events table: committed rows, and every batch's rows (for split checks).
class FakeSinkDb {
 public:
  std::vector<FakeRow> Rows() const;
  std::vector<std::vector<int64_t>> Batches() const;  // ids per committed batch
  int64_t Position() const;
  Faults& faults() { return faults_; }

 private:
  friend class FakeEventSink;
  mutable absl::Mutex mu_;
  std::vector<FakeRow> rows_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<int64_t>> batches_ ABSL_GUARDED_BY(mu_);
  Faults faults_;
};

class FakeEventSink : public core::EventSink {
 public:
  explicit FakeEventSink(FakeSinkDb& db) : db_(db) {}
  absl::Status Connect() override;
  void Close() override;
  // Ends a Write that hangs (Faults::hang_writes) with Unavailable.
  void Interrupt() override;
  absl::StatusOr<int64_t> Position() override { return db_.Position(); }
  absl::Status Ping() override;
  absl::StatusOr<std::optional<core::FirstEvent>> First() override;
  absl::Status BeginBatch(int64_t position) override;
  absl::Status SendBeginBatch(int64_t) override { return absl::OkStatus(); }
  // Checks at commit that the batch before it committed first (the order parallel writes keep).
  absl::Status BeginFollowingBatch(int64_t position) override;
  absl::Status Write(const core::EventRow& row) override;
  absl::Status EndBatch() override { return absl::OkStatus(); }
  int commits() const { return commits_; }
  absl::StatusOr<int64_t> CommitBatch() override;
  void AbortBatch() override;

 private:
  FakeSinkDb& db_;
  std::vector<FakeRow> open_;
  bool in_batch_ = false;
  bool following_ = false;
  int64_t position_ = 0;
  int commits_ = 0;
};

// A destination's indexes as DestinationIndexes sees them (bulk_load.h): the index set, the
// record of those set aside, and what the sink's table held when each step happened.
class FakeIndexDb {
 public:
  FakeIndexDb(const FakeSinkDb& table, std::map<std::string, std::string> indexes)
      : table_(table), indexes_(std::move(indexes)) {}
  std::map<std::string, std::string> Indexes() const;  // name -> definition, those present
  std::vector<std::string> Record() const;             // set aside, not built ("" if none)
  bool has_record() const;
  // The table's position when the indexes were set aside, and when each build began.
  std::vector<int64_t> set_aside_at() const;
  std::map<std::string, int64_t> built_at() const;
  int max_concurrent_builds() const;
  // Set-up and faults.
  void SetRecord(std::vector<std::string> pending);  // as an earlier run left it (dropped ones)
  void DenyPermission();                             // SetAside: PermissionDenied
  void FailNextBuild(absl::Status s);
  // Builds block, with building() of them waiting, until Release() or an interrupt (which fails
  // the build: it rolls back).
  void HoldBuilds();
  void Release();
  bool AwaitBuilding(int n, absl::Duration timeout);

 private:
  friend class FakeDestinationIndexes;
  const FakeSinkDb& table_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> indexes_ ABSL_GUARDED_BY(mu_);
  std::optional<std::vector<std::pair<std::string, std::string>>> record_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> set_aside_at_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> built_at_ ABSL_GUARDED_BY(mu_);
  bool deny_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<absl::Status> build_faults_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  int building_ ABSL_GUARDED_BY(mu_) = 0;
  int max_concurrent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t interrupts_ ABSL_GUARDED_BY(mu_) = 0;
};

class FakeDestinationIndexes : public core::DestinationIndexes {
 public:
  explicit FakeDestinationIndexes(FakeIndexDb& db) : db_(db) {}
  absl::Status Connect() override { return absl::OkStatus(); }
  void Close() override {}
  void Interrupt() override;
  absl::StatusOr<std::vector<std::string>> Pending() override;
  absl::StatusOr<std::vector<std::string>> SetAside() override;
  absl::Status Build(const std::string& name) override;

 private:
  FakeIndexDb& db_;
  bool interrupted_ = false;  // guarded by db_.mu_
};

// Notifications: tests push payloads; the engine's listener receives them.
class FakeWakeups : public core::WakeupSource {
 public:
  void Push(std::vector<std::string> payloads);
  void Disconnect();  // the next Wait returns Unavailable
  int connects() const;
  absl::Status Connect() override;
  void Close() override {}
  void Interrupt() override {}
  absl::Status Ping() override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<std::string>> Wait(absl::Duration timeout) override;

 private:
  mutable absl::Mutex mu_;
  std::deque<std::vector<std::string>> queue_ ABSL_GUARDED_BY(mu_);
  bool drop_ ABSL_GUARDED_BY(mu_) = false;
  int connects_ ABSL_GUARDED_BY(mu_) = 0;
};

// verify.h's VerifyTarget over rows in memory; counts its queries.
class FakeVerifyTarget : public core::VerifyTarget {
 public:
  // Tests on one thread use `rows` directly; with another thread querying, through Mutate().
  std::map<int64_t, core::RowSummary> rows;
  void Mutate(const std::function<void(std::map<int64_t, core::RowSummary>&)>& fn) {
    absl::MutexLock lock(&mu_);
    fn(rows);
  }
  int summaries = 0;
  int group_queries = 0;
  int64_t rows_read = 0;
  absl::StatusOr<int64_t> MaxId() override {
    absl::MutexLock lock(&mu_);
    return rows.empty() ? 0 : rows.rbegin()->first;
  }
  absl::StatusOr<core::RangeSummary> Summarize(int64_t from, int64_t to) override {
    absl::MutexLock lock(&mu_);
    ++summaries;
    if (from < to) ranges.emplace_back(from, to);
    return Sum(from, to);
  }
  // The ranges of more than one id summarized (the verifier's steps), in order.
  std::vector<std::pair<int64_t, int64_t>> ranges;
  int64_t LowestRangeStart() {
    absl::MutexLock lock(&mu_);
    int64_t lowest = 0;
    for (const auto& r : ranges) lowest = lowest == 0 ? r.first : std::min(lowest, r.first);
    return lowest;
  }
  void ClearRanges() {
    absl::MutexLock lock(&mu_);
    ranges.clear();
  }
  // The verification checkpoint: kept only when `keeps_checkpoint` (else Unimplemented); a save
  // fails with `save_error` when set.
  bool keeps_checkpoint = false;
  absl::Status save_error;
  int save_attempts = 0;
  std::optional<core::VerifyCheckpoint> checkpoint;
  std::optional<core::VerifyCheckpoint> Stored() {
    absl::MutexLock lock(&mu_);
    return checkpoint;
  }
  int SaveAttempts() {
    absl::MutexLock lock(&mu_);
    return save_attempts;
  }
  absl::StatusOr<std::optional<core::VerifyCheckpoint>> LoadCheckpoint() override {
    absl::MutexLock lock(&mu_);
    if (!keeps_checkpoint) return core::VerifyTarget::LoadCheckpoint();
    return checkpoint;
  }
  absl::Status SaveCheckpoint(const core::VerifyCheckpoint& c) override {
    absl::MutexLock lock(&mu_);
    if (!keeps_checkpoint) return core::VerifyTarget::SaveCheckpoint(c);
    ++save_attempts;
    if (!save_error.ok()) return save_error;
    checkpoint = c;
    return absl::OkStatus();
  }
  core::RangeSummary Sum(int64_t from, int64_t to) const {
    core::RangeSummary s;
    uint64_t sum = 0;
    for (auto it = rows.lower_bound(from); it != rows.end() && it->first <= to; ++it) {
      ++s.count;
      sum += std::hash<std::string>()(
          absl::StrCat(it->first, "|", it->second.ts_micros, "|", it->second.event_md5));
    }
    s.digest = absl::StrCat(sum);
    return s;
  }
  absl::StatusOr<std::vector<core::RangeSummary>> SummarizeGroups(int64_t from, int64_t to,
                                                                  int64_t group) override {
    absl::MutexLock lock(&mu_);
    ++group_queries;
    std::vector<core::RangeSummary> out;
    for (int64_t g = from; g <= to; g += group) {
      out.push_back(Sum(g, std::min(to, g + group - 1)));
    }
    return out;
  }
  absl::StatusOr<std::vector<core::RowDigest>> RowDigests(int64_t from, int64_t to) override {
    absl::MutexLock lock(&mu_);
    std::vector<core::RowDigest> out;
    for (auto it = rows.lower_bound(from); it != rows.end() && it->first <= to; ++it) {
      out.push_back({it->first, it->second.ts_micros, it->second.event_md5});
      ++rows_read;
    }
    return out;
  }
  absl::StatusOr<std::vector<core::RowSummary>> Rows(int64_t from, int64_t to) override {
    absl::MutexLock lock(&mu_);
    std::vector<core::RowSummary> out;
    for (auto it = rows.lower_bound(from); it != rows.end() && it->first <= to; ++it) {
      out.push_back(it->second);
    }
    return out;
  }
  void Fill(int64_t n) {
    for (int64_t id = 1; id <= n; ++id)
      rows[id] = {id, id * 1000, 10, absl::StrCat("md5-", id), "{}"};
  }

 private:
  absl::Mutex mu_;
};

}  // namespace slate::testing
