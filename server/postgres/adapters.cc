#include "server/postgres/adapters.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"

#include "server/postgres/binary_copy.h"
#include "server/postgres/pg_conn.h"
#include "server/postgres/schema.h"

namespace slate::pg {
namespace {

constexpr size_t kSendChunk = 64 * 1024;  // bytes gathered before one PQputCopyData

// The lowest-id event, for identity checks.
absl::StatusOr<std::optional<core::FirstEvent>> ReadFirst(PgConn& conn) {
  auto rows = conn.Query(
      "SELECT id, (extract(epoch FROM ts) * 1000000)::bigint, event::text FROM events "
      "ORDER BY id LIMIT 1");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<core::FirstEvent>();
  const auto& r = rows->front();
  return std::optional<core::FirstEvent>(
      core::FirstEvent{std::stoll(r[0]), std::stoll(r[1]), r[2]});
}

// ---------------------------------------------------------------------------------------------
// Source

class PgRowReader : public core::RowReader {
 public:
  explicit PgRowReader(PgConn& conn) : conn_(conn) {}
  ~PgRowReader() override {
    // Abandoned mid-stream: the connection is still in COPY OUT; dropping it is the cheapest
    // way back to a clean state (the next use reconnects).
    if (!done_) conn_.Close();
  }

  absl::StatusOr<bool> Next(core::EventRow* row) override {
    while (true) {
      auto r = framer_.Next(row);
      if (!r.ok()) return r.status();
      if (*r == CopyFramer::Result::kRow) return true;
      if (*r == CopyFramer::Result::kEnd) return Finish();
      char* buf = nullptr;
      const int n = PQgetCopyData(conn_.get(), &buf, 0);
      if (n > 0) {
        framer_.Append(absl::string_view(buf, static_cast<size_t>(n)));
        PQfreemem(buf);
        continue;
      }
      if (n == -1) return Finish();  // end of COPY before a trailer: Finish reports it
      return conn_.ResultError(PQgetResult(conn_.get()), "reading events");
    }
  }

 private:
  absl::StatusOr<bool> Finish() {
    // Drain the COPY's remaining messages and its final result.
    char* buf = nullptr;
    int n = 0;
    while ((n = PQgetCopyData(conn_.get(), &buf, 0)) > 0) PQfreemem(buf);
    if (n == -2) return conn_.ResultError(PQgetResult(conn_.get()), "reading events");
    PGresult* res = PQgetResult(conn_.get());
    if (res == nullptr || PQresultStatus(res) != PGRES_COMMAND_OK) {
      return conn_.ResultError(res, "reading events");
    }
    PQclear(res);
    while ((res = PQgetResult(conn_.get())) != nullptr) PQclear(res);
    done_ = true;
    if (!framer_.ended()) {
      return absl::DataLossError(
          absl::StrCat(conn_.what(), ": binary COPY ended without its trailer"));
    }
    return false;
  }

  PgConn& conn_;
  CopyFramer framer_;
  bool done_ = false;
};

class PgEventSource : public core::EventSource {
 public:
  PgEventSource(ConnParams params, std::string what)
      : params_(std::move(params)), what_(std::move(what)) {}

  absl::Status Connect() override {
    return conn_.is_open() ? absl::OkStatus() : conn_.Open(params_, what_);
  }
  void Close() override { conn_.Close(); }
  void Interrupt() override { conn_.Interrupt(); }

  absl::StatusOr<core::SourceHead> Head() override {
    if (absl::Status s = Connect(); !s.ok()) return s;
    auto rows = conn_.Query(
        "SELECT id, (extract(epoch FROM ts) * 1000000)::bigint FROM events "
        "ORDER BY id DESC LIMIT 1");
    if (!rows.ok()) return Failed(rows.status());
    core::SourceHead head;
    if (!rows->empty()) {
      head.max_id = std::stoll((*rows)[0][0]);
      head.newest_event_time = absl::FromUnixMicros(std::stoll((*rows)[0][1]));
    }
    return head;
  }

  absl::StatusOr<std::optional<core::FirstEvent>> First() override {
    if (absl::Status s = Connect(); !s.ok()) return s;
    auto first = ReadFirst(conn_);
    if (!first.ok()) return Failed(first.status());
    return first;
  }

  absl::StatusOr<std::unique_ptr<core::RowReader>> ReadAfter(int64_t after_id,
                                                             int64_t up_to_id) override {
    if (absl::Status s = Connect(); !s.ok()) return s;
    std::string sql = absl::StrCat("COPY (SELECT id, ts, event FROM events WHERE id > ", after_id);
    if (up_to_id > 0) absl::StrAppend(&sql, " AND id <= ", up_to_id);
    absl::StrAppend(&sql, " ORDER BY id) TO STDOUT (FORMAT binary)");
    PGresult* res = PQexec(conn_.get(), sql.c_str());
    if (res == nullptr || PQresultStatus(res) != PGRES_COPY_OUT) {
      return Failed(conn_.ResultError(res, "starting to read events"));
    }
    PQclear(res);
    return std::unique_ptr<core::RowReader>(new PgRowReader(conn_));
  }

 private:
  absl::Status Failed(absl::Status s) {
    if (s.code() == absl::StatusCode::kUnavailable) conn_.Close();
    return s;
  }

  ConnParams params_;
  std::string what_;
  PgConn conn_;
};

// ---------------------------------------------------------------------------------------------
// Sink

class PgEventSink : public core::EventSink {
 public:
  PgEventSink(ConnParams params, std::string what)
      : params_(std::move(params)), what_(std::move(what)) {}
  ~PgEventSink() override { Close(); }

  absl::Status Connect() override {
    if (absl::Status s = conn_.Open(params_, what_); !s.ok()) return s;
    auto got = conn_.Query(
        absl::StrCat("SELECT pg_try_advisory_lock(", kWriterLockKey1, ", ", kWriterLockKey2, ")"));
    if (!got.ok()) {
      conn_.Close();
      return got.status();
    }
    if (got->at(0).at(0) != "t") {
      auto holder = conn_.Query(absl::StrCat(
          "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local') "
          "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
          "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ",
          kWriterLockKey1, " AND l.objid = ", kWriterLockKey2,
          " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"));
      std::string who = "another session";
      if (holder.ok() && !holder->empty()) {
        who = absl::StrCat("backend pid ", (*holder)[0][0], ", application_name '", (*holder)[0][1],
                           "', client ", (*holder)[0][2]);
      }
      conn_.Close();
      return absl::FailedPreconditionError(absl::StrCat(
          what_, " is already being written by another slate-replicator (", who,
          "); two writers would race. Stop the other one, or remove this destination from one "
          "of the configs"));
    }
    return absl::OkStatus();
  }

  void Close() override {
    AbortBatch();
    conn_.Close();  // ends the session, and with it the writer lock
  }
  void Interrupt() override { conn_.Interrupt(); }

  absl::StatusOr<int64_t> Position() override {
    auto rows = conn_.Query("SELECT coalesce(max(id), 0) FROM events");
    if (!rows.ok()) return rows.status();
    return std::stoll(rows->at(0).at(0));
  }

  absl::StatusOr<std::optional<core::FirstEvent>> First() override { return ReadFirst(conn_); }

  absl::Status Ping() override { return conn_.Exec("SELECT 1"); }

  absl::Status BeginBatch(int64_t position) override {
    if (absl::Status s = conn_.Exec("BEGIN"); !s.ok()) return s;
    in_tx_ = true;
    auto probe = conn_.Query(absl::StrCat(
        "SELECT ", position, " = 0 OR EXISTS (SELECT 1 FROM events WHERE id = ", position,
        "), EXISTS (SELECT 1 FROM events WHERE id = ", position + 1, ")"));
    if (!probe.ok()) return probe.status();
    if ((*probe)[0][1] == "t") {
      return absl::AbortedError(
          absl::StrCat(what_, ": id ", position + 1, " is already there; re-reading the position"));
    }
    if ((*probe)[0][0] != "t") {
      return absl::DataLossError(
          absl::StrCat(what_, ": id ", position,
                       " was written here but is gone: rows were removed from the "
                       "destination. Rebuild it (drop, slatectl init-db, replicate)"));
    }
    PGresult* res = PQexec(conn_.get(), "COPY events (id, ts, event) FROM STDIN (FORMAT binary)");
    if (res == nullptr || PQresultStatus(res) != PGRES_COPY_IN) {
      return conn_.ResultError(res, "starting to write events");
    }
    PQclear(res);
    in_copy_ = true;
    buf_.assign(BinaryCopyHeader().data(), BinaryCopyHeader().size());
    batch_bytes_ = 0;
    return absl::OkStatus();
  }

  absl::Status Write(const core::EventRow& row) override {
    buf_.append(row.encoded.data(), row.encoded.size());
    batch_bytes_ += static_cast<int64_t>(row.encoded.size());
    return buf_.size() >= kSendChunk ? Flush() : absl::OkStatus();
  }

  absl::StatusOr<int64_t> CommitBatch() override {
    buf_.append(BinaryCopyTrailer().data(), BinaryCopyTrailer().size());
    if (absl::Status s = Flush(); !s.ok()) return s;
    in_copy_ = false;
    if (PQputCopyEnd(conn_.get(), nullptr) != 1) {
      return conn_.ResultError(nullptr, "ending the write");
    }
    PGresult* res = PQgetResult(conn_.get());
    if (res == nullptr || PQresultStatus(res) != PGRES_COMMAND_OK) {
      DrainResults();
      return conn_.ResultError(res, "writing events");
    }
    PQclear(res);
    DrainResults();
    absl::Status commit = conn_.Exec("COMMIT");
    in_tx_ = false;
    if (!commit.ok()) {
      if (commit.code() == absl::StatusCode::kUnavailable) {
        return absl::UnknownError(absl::StrCat(commit.message(),
                                               " (the commit may or may not have happened; the "
                                               "position is re-read on reconnect)"));
      }
      return commit;
    }
    return batch_bytes_;
  }

  void AbortBatch() override {
    if (!conn_.is_open()) {
      in_copy_ = in_tx_ = false;
      return;
    }
    if (in_copy_) {
      PQputCopyEnd(conn_.get(), "batch abandoned by slate-replicator");
      DrainResults();
      in_copy_ = false;
    }
    if (in_tx_) {
      (void)conn_.Exec("ROLLBACK");
      in_tx_ = false;
    }
  }

 private:
  absl::Status Flush() {
    if (buf_.empty()) return absl::OkStatus();
    if (PQputCopyData(conn_.get(), buf_.data(), static_cast<int>(buf_.size())) != 1) {
      return conn_.ResultError(nullptr, "writing events");
    }
    buf_.clear();
    return absl::OkStatus();
  }
  void DrainResults() {
    while (PGresult* r = PQgetResult(conn_.get())) PQclear(r);
  }

  ConnParams params_;
  std::string what_;
  PgConn conn_;
  std::string buf_;
  int64_t batch_bytes_ = 0;
  bool in_tx_ = false;
  bool in_copy_ = false;
};

// ---------------------------------------------------------------------------------------------
// Notifications

class PgWakeupSource : public core::WakeupSource {
 public:
  PgWakeupSource(ConnParams params, std::string what)
      : params_(std::move(params)), what_(std::move(what)) {}

  absl::Status Connect() override {
    if (absl::Status s = conn_.Open(params_, what_); !s.ok()) return s;
    absl::Status s = conn_.Exec(absl::StrCat("LISTEN ", kNotifyChannel));
    if (!s.ok()) conn_.Close();
    return s;
  }
  void Close() override { conn_.Close(); }
  void Interrupt() override { conn_.Interrupt(); }
  // Notifications arriving meanwhile are kept by libpq for the next Wait().
  absl::Status Ping() override { return conn_.Exec("SELECT 1"); }

  absl::StatusOr<std::vector<std::string>> Wait(absl::Duration timeout) override {
    if (!conn_.is_open()) return absl::UnavailableError(absl::StrCat(what_, ": not connected"));
    std::vector<std::string> out;
    if (absl::Status s = Collect(&out); !s.ok() || !out.empty()) {
      if (!s.ok()) return s;
      return out;
    }
    pollfd pfd{PQsocket(conn_.get()), POLLIN, 0};
    const int rc = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    if (rc < 0 && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat(what_, ": poll: ", std::strerror(errno)));
    }
    if (rc > 0) {
      if (absl::Status s = Collect(&out); !s.ok()) return s;
    }
    return out;
  }

 private:
  absl::Status Collect(std::vector<std::string>* out) {
    if (PQconsumeInput(conn_.get()) != 1 || PQstatus(conn_.get()) != CONNECTION_OK) {
      return absl::UnavailableError(
          absl::StrCat(what_, ": notification connection lost: ", PQerrorMessage(conn_.get())));
    }
    while (PGnotify* n = PQnotifies(conn_.get())) {
      out->emplace_back(n->extra != nullptr ? n->extra : "");
      PQfreemem(n);
    }
    return absl::OkStatus();
  }

  ConnParams params_;
  std::string what_;
  PgConn conn_;
};

}  // namespace

std::unique_ptr<core::EventSource> NewEventSource(const ConnParams& params,
                                                  const std::string& what) {
  return std::make_unique<PgEventSource>(params, what);
}
std::unique_ptr<core::EventSink> NewEventSink(const ConnParams& params, const std::string& what) {
  return std::make_unique<PgEventSink>(params, what);
}
std::unique_ptr<core::WakeupSource> NewWakeupSource(const ConnParams& params,
                                                    const std::string& what) {
  return std::make_unique<PgWakeupSource>(params, what);
}

}  // namespace slate::pg
