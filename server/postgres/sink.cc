// The event sink: binary COPY into a destination, one transaction per batch (adapters.h).
//
// A batch's life is one enum, BatchState, and every method moves it along these edges:
//   kIdle --SendBegin--> kBeginSent --AwaitBegin--> kCopying --EndBatch--> kEnded
//   kEnded --CommitBatch--> kIdle (committed) or kOpen (a following batch, before its COMMIT)
//   kOpen --COMMIT--> kIdle
// AbortBatch() walks any state back to kIdle: answers still unread are read, a COPY is failed,
// results are drained, an open transaction is rolled back. A lost connection is kIdle at once
// (the server rolls back by itself).

#include <optional>

#include "absl/strings/str_cat.h"

#include "server/common/log.h"
#include "server/common/status_macros.h"
#include "server/postgres/adapters.h"
#include "server/postgres/binary_copy.h"
#include "server/postgres/pg_conn.h"
#include "server/postgres/sql.h"

namespace slate::pg {
namespace {

constexpr size_t kSendChunk = 64 * 1024;  // bytes gathered before one PQputCopyData

enum class BatchState {
  kIdle,       // no batch
  kBeginSent,  // BEGIN (and the probes and COPY) sent, the answers not read yet
  kCopying,    // in COPY IN: rows are written
  kEnded,      // the end of the COPY sent, its results not read yet
  kOpen,       // the transaction is open, no COPY in progress (failed, or awaiting its COMMIT)
};

class PgEventSink : public core::EventSink {
 public:
  PgEventSink(ConnParams params, std::string what, SinkOptions options)
      : params_(std::move(params)), what_(std::move(what)), options_(std::move(options)) {}
  ~PgEventSink() override { Close(); }

  absl::Status Connect() override {
    RETURN_IF_ERROR(conn_.Open(params_, what_));
    absl::Status s = Prepare();
    if (!s.ok()) conn_.Close();
    return s;
  }

  void Close() override {
    AbortBatch();
    conn_.Close();  // ends the session, and with it the writer lock
  }
  void Interrupt() override { conn_.Interrupt(); }

  absl::StatusOr<int64_t> Position() override {
    auto rows = conn_.Query(std::string(sql::kMaxId));
    if (!rows.ok()) return rows.status();
    return std::stoll(rows->at(0).at(0));
  }

  absl::StatusOr<std::optional<core::FirstEvent>> First() override { return ReadFirstEvent(conn_); }

  absl::Status Ping() override { return conn_.Exec("SELECT 1"); }

  // One round trip: BEGIN, the two probes and the start of the COPY go as one query string, with
  // the COMMIT after it, so that ending the COPY commits without another round trip. A failed
  // probe fails the COPY, and with it the COMMIT (a failed query string stops at its error).
  absl::Status BeginBatch(int64_t position) override {
    if (state_ == BatchState::kBeginSent && position_ != position) AbortBatch();
    if (state_ != BatchState::kBeginSent) {
      RETURN_IF_ERROR(SendBegin(position, /*following=*/false));
    }
    return AwaitBegin();
  }

  absl::Status SendBeginBatch(int64_t position) override {
    if (state_ == BatchState::kBeginSent) AbortBatch();
    return SendBegin(position, /*following=*/false);
  }

  absl::Status BeginFollowingBatch(int64_t position) override {
    if (state_ == BatchState::kBeginSent) AbortBatch();
    RETURN_IF_ERROR(SendBegin(position, /*following=*/true));
    return AwaitBegin();
  }

  absl::Status Write(const core::EventRow& row) override {
    buf_.append(row.encoded.data(), row.encoded.size());
    batch_bytes_ += static_cast<int64_t>(row.encoded.size());
    return buf_.size() >= kSendChunk ? Flush() : absl::OkStatus();
  }

  absl::Status EndBatch() override {
    if (state_ != BatchState::kCopying) return absl::OkStatus();
    buf_.append(BinaryCopyTrailer().data(), BinaryCopyTrailer().size());
    RETURN_IF_ERROR(Flush());
    state_ = BatchState::kOpen;  // the COPY is over on our side, whatever happens next
    if (PQputCopyEnd(conn_.get(), nullptr) != 1) {
      return InDoubt(conn_.ResultError(nullptr, "ending the write"));
    }
    state_ = BatchState::kEnded;
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> CommitBatch() override {
    RETURN_IF_ERROR(EndBatch());
    state_ = BatchState::kOpen;  // from here, a failure leaves the transaction to AbortBatch
    PGresult* res = PQgetResult(conn_.get());
    if (res == nullptr || PQresultStatus(res) != PGRES_COMMAND_OK) {
      conn_.DrainResults();
      return InDoubt(conn_.ResultError(res, "writing events"));
    }
    PQclear(res);
    if (!following_) {
      // The COMMIT that followed the COPY in the same query string.
      res = PQgetResult(conn_.get());
      if (res == nullptr || PQresultStatus(res) != PGRES_COMMAND_OK) {
        conn_.DrainResults();
        return InDoubt(conn_.ResultError(res, "committing events"));
      }
      PQclear(res);
      conn_.DrainResults();
      state_ = BatchState::kIdle;
      return batch_bytes_;
    }
    conn_.DrainResults();
    // The batch before this one has committed by now: its last id must be visible.
    auto probe = conn_.Query(sql::RowExists(position_));
    if (!probe.ok()) return probe.status();
    if ((*probe)[0][0] != "t") return RowsRemoved(position_);
    absl::Status commit = conn_.Exec("COMMIT");
    state_ = BatchState::kIdle;
    if (!commit.ok()) return InDoubt(commit);
    return batch_bytes_;
  }

  void AbortBatch() override {
    if (!conn_.is_open()) {
      state_ = BatchState::kIdle;
      return;
    }
    if (state_ == BatchState::kBeginSent) {
      // Sent, never awaited: take the answers up to the COPY, then fail it.
      state_ = BatchState::kOpen;
      while (PGresult* r = PQgetResult(conn_.get())) {
        const bool copy_in = PQresultStatus(r) == PGRES_COPY_IN;
        PQclear(r);
        if (copy_in) {
          state_ = BatchState::kCopying;
          break;
        }
      }
    }
    if (state_ == BatchState::kCopying) {
      PQputCopyEnd(conn_.get(), "batch abandoned by slate-replicator");
      state_ = BatchState::kEnded;
    }
    if (state_ == BatchState::kEnded) {
      conn_.DrainResults();  // an ended BeginBatch batch may have committed here (see EndBatch)
      state_ = BatchState::kOpen;
    }
    if (state_ == BatchState::kOpen) (void)conn_.Exec("ROLLBACK");
    state_ = BatchState::kIdle;
  }

 private:
  // The batch probe, session settings and the writer lock, right after connecting.
  absl::Status Prepare() {
    RETURN_IF_ERROR(conn_.Exec(sql::PrepareBatchProbe()));
    if (!options_.synchronous_commit.empty()) {
      absl::Status s =
          conn_.Exec(absl::StrCat("SET synchronous_commit = '", options_.synchronous_commit, "'"));
      if (!s.ok()) return s;
    }
    if (options_.group_key != 0) {
      RETURN_IF_ERROR(conn_.Exec(sql::LockShared(sql::kGroupLockKey1, options_.group_key)));
    }
    if (!options_.take_writer_lock) return absl::OkStatus();
    auto holder = TryWriterLock(conn_);
    if (!holder.ok()) return holder.status();
    if (!holder->has_value()) return absl::OkStatus();
    const std::string& who = (*holder)->description;
    if (options_.group_key != 0 && (*holder)->pid != 0) {
      auto fenced = FenceSameGroup((*holder)->pid, who);
      if (!fenced.ok()) return fenced.status();
      if (*fenced) return absl::OkStatus();
    }
    return absl::FailedPreconditionError(absl::StrCat(
        what_, " is already being written by another slate-replicator (", who,
        "); two writers would race. Stop the other one, or remove this destination from one "
        "of the configs"));
  }

  // The writer lock is held by backend `pid`. If that session is one of this config's (it holds
  // the group lock too), it is a former active's: this instance holds the leader lock, so that
  // one may not write any more. Ends it, and every other session of this config on this
  // destination (its parallel writers, whose open batches would hold ids in the index), then
  // takes the writer lock; true when taken. The caller's own parallel writers connect after it.
  absl::StatusOr<bool> FenceSameGroup(int64_t pid, const std::string& who) {
    auto same = conn_.Query(sql::HoldsAdvisoryLock(pid, sql::kGroupLockKey1, options_.group_key));
    if (!same.ok()) return same.status();
    if (same->at(0).at(0) != "t") return false;  // another config's writer: wait for it
    log::Warn(*log::Get("pg"),
              "the writer lock is held by a former active of this config; ending its sessions",
              {{"destination", what_}, {"holder", who}});
    auto ended = conn_.Query(sql::TerminateOtherHolders(sql::kGroupLockKey1, options_.group_key));
    if (!ended.ok() || ended->at(0).at(0) != "t") {
      log::Warn(
          *log::Get("pg"), "could not end the former active's sessions; waiting for them",
          {{"destination", what_},
           {"error", ended.ok() ? std::string("not permitted") : log::StatusText(ended.status())}});
      return false;
    }
    // The ended backends exit at once and their locks go with them: wait for the writer lock,
    // bounded by the server (lock_timeout), not by polling.
    RETURN_IF_ERROR(conn_.Exec("SET lock_timeout = '1s'"));
    const absl::Status got = conn_.Exec(sql::Lock(sql::kWriterLockKey1, sql::kWriterLockKey2));
    RETURN_IF_ERROR(conn_.Exec("RESET lock_timeout"));
    if (got.code() == absl::StatusCode::kFailedPrecondition) return false;  // still held
    RETURN_IF_ERROR(got);
    return true;
  }

  absl::Status SendBegin(int64_t position, bool following) {
    position_ = position;
    following_ = following;
    std::string sql = "BEGIN; ";
    if (!following) absl::StrAppend(&sql, sql::BatchProbe(position), "; ");
    absl::StrAppend(&sql, sql::kCopyIn);
    if (!following) absl::StrAppend(&sql, "; COMMIT");
    if (PQsendQuery(conn_.get(), sql.c_str()) != 1) {
      return conn_.ResultError(nullptr, "starting to write events");
    }
    state_ = BatchState::kBeginSent;
    return absl::OkStatus();
  }

  absl::Status AwaitBegin() {
    state_ = BatchState::kOpen;  // until the COPY answers
    const int64_t position = position_;
    absl::Status probe = absl::OkStatus();
    // The answers have usually arrived while the source was read: taking what is there first
    // spares PQgetResult's poll() (a lost connection shows in PQgetResult's result).
    (void)PQconsumeInput(conn_.get());
    while (true) {
      PGresult* res = PQgetResult(conn_.get());
      const ExecStatusType st = res == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(res);
      if (st == PGRES_COPY_IN) {
        PQclear(res);
        break;
      }
      if (st == PGRES_TUPLES_OK && probe.ok()) {
        if (std::string(PQgetvalue(res, 0, 1)) == "t") {
          probe = absl::AbortedError(absl::StrCat(what_, ": id ", position + 1,
                                                  " is already there; re-reading the position"));
        } else if (std::string(PQgetvalue(res, 0, 0)) != "t") {
          probe = RowsRemoved(position);
        }
      } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        absl::Status s = conn_.ResultError(res, "starting to write events");
        conn_.DrainResults();
        return s;
      }
      PQclear(res);
    }
    state_ = BatchState::kCopying;
    buf_.assign(BinaryCopyHeader().data(), BinaryCopyHeader().size());
    batch_bytes_ = 0;
    if (!probe.ok()) {
      AbortBatch();
      return probe;
    }
    return absl::OkStatus();
  }

  absl::Status RowsRemoved(int64_t position) const {
    return absl::DataLossError(
        absl::StrCat(what_, ": id ", position,
                     " was written here but is gone: rows were removed from the "
                     "destination. Rebuild it (drop, slatectl init-db, replicate)"));
  }

  // A lost connection after the end of a batch was sent: its commit may have happened.
  static absl::Status InDoubt(absl::Status s) {
    if (s.code() != absl::StatusCode::kUnavailable) return s;
    return absl::UnknownError(absl::StrCat(s.message(),
                                           " (the commit may or may not have happened; the "
                                           "position is re-read on reconnect)"));
  }

  absl::Status Flush() { return conn_.PutCopyData(&buf_); }

  // Constant after construction.
  const ConnParams params_;
  const std::string what_;
  const SinkOptions options_;

  PgConn conn_;
  BatchState state_ = BatchState::kIdle;
  std::string buf_;
  int64_t batch_bytes_ = 0;
  int64_t position_ = 0;    // the batch's start position
  bool following_ = false;  // the batch follows another still open (parallel writes)
};

}  // namespace

std::unique_ptr<core::EventSink> NewEventSink(const ConnParams& params, const std::string& what,
                                              const SinkOptions& options) {
  return std::make_unique<PgEventSink>(params, what, options);
}

}  // namespace slate::pg
