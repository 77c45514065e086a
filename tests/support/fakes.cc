#include "tests/support/fakes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace slate::testing {

void FakeSourceDb::AddTransaction(int n) {
  absl::MutexLock lock(&mu_);
  const int64_t ts = ++next_ts_;
  int64_t id = rows_.empty() ? 1 : rows_.rbegin()->first + 1;
  for (int i = 0; i < n; ++i, ++id) {
    rows_[id] = FakeRow{id, ts, absl::StrCat("row-", id, "-\x01\xff-bytes")};
  }
}

void FakeSourceDb::AddRow(int64_t id, int64_t ts) {
  absl::MutexLock lock(&mu_);
  rows_[id] = FakeRow{id, ts, absl::StrCat("row-", id)};
}

std::vector<FakeRow> FakeSourceDb::Rows() const {
  absl::MutexLock lock(&mu_);
  std::vector<FakeRow> out;
  for (const auto& [id, row] : rows_) out.push_back(row);
  return out;
}

int64_t FakeSourceDb::MaxId() const {
  absl::MutexLock lock(&mu_);
  return rows_.empty() ? 0 : rows_.rbegin()->first;
}

namespace {
// A snapshot of the rows in range, like a COPY's snapshot.
class FakeReader : public core::RowReader {
 public:
  explicit FakeReader(std::vector<FakeRow> rows) : rows_(std::move(rows)) {}
  absl::StatusOr<bool> Next(core::EventRow* row) override {
    if (next_ >= rows_.size()) return false;
    const FakeRow& r = rows_[next_++];
    row->id = r.id;
    row->ts = r.ts;
    row->encoded = r.encoded;
    return true;
  }

 private:
  std::vector<FakeRow> rows_;
  size_t next_ = 0;
};
}  // namespace

absl::StatusOr<std::unique_ptr<core::RowReader>> FakeEventSource::ReadAfter(
    int64_t after_id, int64_t up_to_id, int64_t /*expected_rows*/) {
  std::vector<FakeRow> rows;
  for (const FakeRow& r : db_.Rows()) {
    if (r.id > after_id && (up_to_id == 0 || r.id <= up_to_id)) rows.push_back(r);
  }
  return std::unique_ptr<core::RowReader>(new FakeReader(std::move(rows)));
}

namespace {
std::optional<core::FirstEvent> FirstOf(const std::vector<FakeRow>& rows) {
  if (rows.empty()) return std::nullopt;
  return core::FirstEvent{rows.front().id, rows.front().ts, rows.front().encoded};
}
}  // namespace

absl::StatusOr<core::SourceHead> FakeEventSource::Head() {
  core::SourceHead head;
  const auto rows = db_.Rows();
  if (!rows.empty()) {
    head.max_id = rows.back().id;
    head.newest_event_time = absl::FromUnixMicros(rows.back().ts);
  }
  return head;
}

absl::StatusOr<std::optional<core::FirstEvent>> FakeEventSource::First() {
  return FirstOf(db_.Rows());
}

absl::StatusOr<std::optional<core::FirstEvent>> FakeEventSink::First() {
  return FirstOf(db_.Rows());
}

std::vector<FakeRow> FakeSinkDb::Rows() const {
  absl::MutexLock lock(&mu_);
  return rows_;
}
std::vector<std::vector<int64_t>> FakeSinkDb::Batches() const {
  absl::MutexLock lock(&mu_);
  return batches_;
}
int64_t FakeSinkDb::Position() const {
  absl::MutexLock lock(&mu_);
  return rows_.empty() ? 0 : rows_.back().id;
}

absl::Status FakeEventSink::Connect() {
  {
    absl::MutexLock lock(&db_.faults_.mu);
    if (!db_.faults_.outage.ok()) return db_.faults_.outage;
  }
  absl::Status s = db_.faults_.Take(db_.faults_.connect);
  if (s.ok()) {
    absl::MutexLock lock(&db_.faults_.mu);
    ++db_.faults_.connects;
    db_.faults_.connected = true;
  }
  return s;
}

void FakeEventSink::Close() {
  open_.clear();
  in_batch_ = false;
  absl::MutexLock lock(&db_.faults_.mu);
  db_.faults_.connected = false;
}

absl::Status FakeEventSink::Ping() {
  absl::MutexLock lock(&db_.faults_.mu);
  return db_.faults_.outage;
}

absl::Status FakeEventSink::BeginBatch(int64_t position) {
  if (absl::Status s = db_.faults_.Take(db_.faults_.begin); !s.ok()) return s;
  if (db_.Position() != position) {
    return absl::AbortedError(absl::StrCat("position is ", db_.Position(), ", not ", position));
  }
  open_.clear();
  in_batch_ = true;
  following_ = false;
  position_ = position;
  return absl::OkStatus();
}

absl::Status FakeEventSink::BeginFollowingBatch(int64_t position) {
  if (absl::Status s = db_.faults_.Take(db_.faults_.begin); !s.ok()) return s;
  open_.clear();
  in_batch_ = true;
  following_ = true;
  position_ = position;
  return absl::OkStatus();
}

void FakeEventSink::Interrupt() {
  absl::MutexLock lock(&db_.faults_.mu);
  db_.faults_.interrupted = true;
  ++db_.faults_.interruptions;
}

absl::Status FakeEventSink::Write(const core::EventRow& row) {
  if (!in_batch_) return absl::FailedPreconditionError("Write outside a batch");
  {
    Faults& f = db_.faults_;
    absl::MutexLock lock(&f.mu);
    if (f.hang_writes) {
      f.interrupted = false;
      auto interrupted = [&f]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(f.mu) { return f.interrupted; };
      f.mu.Await(absl::Condition(&interrupted));
      f.hang_writes = false;
      return absl::UnavailableError("fake: write interrupted");
    }
  }
  {
    Faults& f = db_.faults_;
    absl::MutexLock lock(&f.mu);
    if (f.hold_at_id != 0 && row.id == f.hold_at_id) {
      f.holding = true;
      f.interrupted = false;
      auto go = [&f]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(f.mu) { return f.release || f.interrupted; };
      f.mu.Await(absl::Condition(&go));
      f.holding = false;
      if (f.interrupted) return absl::UnavailableError("fake: write interrupted");
    }
  }
  if (absl::Status s = db_.faults_.Take(db_.faults_.write); !s.ok()) return s;
  open_.push_back(FakeRow{row.id, row.ts, std::string(row.encoded)});
  return absl::OkStatus();
}

absl::StatusOr<int64_t> FakeEventSink::CommitBatch() {
  if (!in_batch_) return absl::FailedPreconditionError("Commit outside a batch");
  in_batch_ = false;
  if (absl::Status s = db_.faults_.Take(db_.faults_.commit); !s.ok()) {
    open_.clear();
    return s;
  }
  absl::MutexLock lock(&db_.mu_);
  const int64_t at = db_.rows_.empty() ? 0 : db_.rows_.back().id;
  if (following_ && at != position_) {
    open_.clear();
    return absl::DataLossError(absl::StrCat("fake: a batch after id ", position_,
                                            " committed while the position is ", at));
  }
  int64_t bytes = 0;
  std::vector<int64_t> ids;
  for (FakeRow& r : open_) {
    if (!db_.rows_.empty() && r.id <= db_.rows_.back().id) {
      return absl::FailedPreconditionError(absl::StrCat("duplicate key id ", r.id));
    }
    bytes += static_cast<int64_t>(r.encoded.size());
    ids.push_back(r.id);
    db_.rows_.push_back(std::move(r));
  }
  db_.batches_.push_back(std::move(ids));
  open_.clear();
  ++commits_;
  return bytes;
}

void FakeEventSink::AbortBatch() {
  if (in_batch_ && !open_.empty()) {
    absl::MutexLock lock(&db_.faults_.mu);
    ++db_.faults_.aborted_batches;
  }
  open_.clear();
  in_batch_ = false;
}

void FakeWakeups::Push(std::vector<std::string> payloads) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(payloads));
}

void FakeWakeups::Disconnect() {
  absl::MutexLock lock(&mu_);
  drop_ = true;
}

int FakeWakeups::connects() const {
  absl::MutexLock lock(&mu_);
  return connects_;
}

absl::Status FakeWakeups::Connect() {
  absl::MutexLock lock(&mu_);
  ++connects_;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> FakeWakeups::Wait(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return drop_ || !queue_.empty(); };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (drop_) {
    drop_ = false;
    return absl::UnavailableError("fake: connection lost");
  }
  if (queue_.empty()) return std::vector<std::string>{};
  std::vector<std::string> out = std::move(queue_.front());
  queue_.pop_front();
  return out;
}

std::map<std::string, std::string> FakeIndexDb::Indexes() const {
  absl::MutexLock lock(&mu_);
  return indexes_;
}

std::vector<std::string> FakeIndexDb::Record() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  if (record_) {
    for (const auto& entry : *record_) names.push_back(entry.first);
  }
  return names;
}

bool FakeIndexDb::has_record() const {
  absl::MutexLock lock(&mu_);
  return record_.has_value();
}

std::vector<int64_t> FakeIndexDb::set_aside_at() const {
  absl::MutexLock lock(&mu_);
  return set_aside_at_;
}

std::map<std::string, int64_t> FakeIndexDb::built_at() const {
  absl::MutexLock lock(&mu_);
  return built_at_;
}

int FakeIndexDb::max_concurrent_builds() const {
  absl::MutexLock lock(&mu_);
  return max_concurrent_;
}

void FakeIndexDb::SetRecord(std::vector<std::string> pending) {
  absl::MutexLock lock(&mu_);
  record_.emplace();
  for (const std::string& name : pending) {
    record_->emplace_back(name, indexes_.at(name));
    indexes_.erase(name);
  }
}

void FakeIndexDb::DenyPermission() {
  absl::MutexLock lock(&mu_);
  deny_ = true;
}

void FakeIndexDb::FailNextBuild(absl::Status s) {
  absl::MutexLock lock(&mu_);
  build_faults_.push_back(std::move(s));
}

void FakeIndexDb::HoldBuilds() {
  absl::MutexLock lock(&mu_);
  hold_ = true;
}

void FakeIndexDb::Release() {
  absl::MutexLock lock(&mu_);
  hold_ = false;
}

bool FakeIndexDb::AwaitBuilding(int n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return building_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

void FakeDestinationIndexes::Interrupt() {
  absl::MutexLock lock(&db_.mu_);
  interrupted_ = true;
  ++db_.interrupts_;
}

absl::StatusOr<std::vector<std::string>> FakeDestinationIndexes::Pending() {
  absl::MutexLock lock(&db_.mu_);
  std::vector<std::string> names;
  if (!db_.record_) return names;
  for (const auto& entry : *db_.record_) names.push_back(entry.first);
  if (names.empty()) db_.record_.reset();  // the empty record ends
  return names;
}

absl::StatusOr<std::vector<std::string>> FakeDestinationIndexes::SetAside() {
  absl::MutexLock lock(&db_.mu_);
  if (db_.deny_) return absl::PermissionDeniedError("fake: not the owner of events");
  std::vector<std::string> names;
  if (db_.indexes_.empty()) return names;
  db_.set_aside_at_.push_back(db_.table_.Position());
  db_.record_.emplace();
  for (const auto& [name, definition] : db_.indexes_) {
    db_.record_->emplace_back(name, definition);
    names.push_back(name);
  }
  db_.indexes_.clear();
  return names;
}

absl::Status FakeDestinationIndexes::Build(const std::string& name) {
  absl::MutexLock lock(&db_.mu_);
  if (interrupted_) return absl::UnavailableError("fake: interrupted");
  ++db_.building_;
  db_.max_concurrent_ = std::max(db_.max_concurrent_, db_.building_);
  auto go = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_.mu_) { return !db_.hold_ || interrupted_; };
  db_.mu_.Await(absl::Condition(&go));
  --db_.building_;
  if (interrupted_) return absl::UnavailableError("fake: build interrupted (rolled back)");
  if (!db_.build_faults_.empty()) {
    absl::Status s = db_.build_faults_.front();
    db_.build_faults_.pop_front();
    return s;
  }
  if (!db_.record_) return absl::FailedPreconditionError("fake: no record");
  auto& record = *db_.record_;
  auto it = std::find_if(record.begin(), record.end(),
                         [&](const auto& entry) { return entry.first == name; });
  if (it == record.end()) return absl::OkStatus();  // built meanwhile
  db_.built_at_[name] = db_.table_.Position();
  db_.indexes_[name] = it->second;
  record.erase(it);
  return absl::OkStatus();
}

}  // namespace slate::testing
