#include "server/postgres/adapters.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"

#include "server/postgres/binary_copy.h"
#include "server/postgres/pg_conn.h"
#include "server/postgres/schema.h"

namespace slate::pg {
namespace {

constexpr size_t kSendChunk = 64 * 1024;  // bytes gathered before one PQputCopyData
constexpr char kSmallReadStatement[] = "slate_read_after";

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

  absl::StatusOr<std::unique_ptr<core::RowReader>> ReadAfter(int64_t after_id, int64_t up_to_id,
                                                             int64_t expected_rows) override {
    if (absl::Status s = Connect(); !s.ok()) return s;
    if (expected_rows > 0 && expected_rows <= kSmallReadRows) {
      auto small = SmallRead(after_id, up_to_id);
      if (!small.ok()) return Failed(small.status());
      return small;
    }
    return CopyRead(after_id, up_to_id);
  }

  // A large read: COPY ... TO STDOUT, streamed.
  absl::StatusOr<std::unique_ptr<core::RowReader>> CopyRead(int64_t after_id, int64_t up_to_id) {
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
  // A small read (following live writes): a prepared SELECT with binary results, no parsing or
  // planning per call; each row is re-framed as the binary COPY tuple the sink writes (the field
  // bytes are the same jsonb_send/int8send output either way). At most kSmallReadRows rows; when
  // there are more, the reader goes on with a COPY after the last one.
  absl::StatusOr<std::unique_ptr<core::RowReader>> SmallRead(int64_t after_id, int64_t up_to_id);

  absl::Status Failed(absl::Status s) {
    if (s.code() == absl::StatusCode::kUnavailable) conn_.Close();
    return s;
  }

  friend class SmallRowReader;
  uint64_t prepared_in_ = 0;  // the connection generation kSmallReadStatement was prepared in
  ConnParams params_;
  std::string what_;
  PgConn conn_;
};

// Rows of one prepared SELECT (binary results), framed as binary COPY tuples; then, if the SELECT
// hit its limit, a COPY for the rest.
class SmallRowReader : public core::RowReader {
 public:
  SmallRowReader(PgEventSource& source, PGresult* res, int64_t up_to_id)
      : source_(source), res_(res), rows_(PQntuples(res)), up_to_id_(up_to_id) {}
  ~SmallRowReader() override { PQclear(res_); }

  absl::StatusOr<bool> Next(core::EventRow* row) override {
    if (rest_ != nullptr) return rest_->Next(row);
    if (next_ < rows_) {
      const int r = next_++;
      tuple_.clear();
      AppendBe(&tuple_, uint16_t{3}, 2);
      for (int f = 0; f < 3; ++f) {
        const int len = PQgetlength(res_, r, f);
        AppendBe(&tuple_, static_cast<uint32_t>(len), 4);
        tuple_.append(PQgetvalue(res_, r, f), static_cast<size_t>(len));
      }
      if (PQgetlength(res_, r, 0) != 8 || PQgetlength(res_, r, 1) != 8) {
        return absl::DataLossError("source: id and ts must be 8-byte binary values");
      }
      row->id = ReadBe64(PQgetvalue(res_, r, 0));
      row->ts = ReadBe64(PQgetvalue(res_, r, 1));
      row->encoded = tuple_;
      last_id_ = row->id;
      return true;
    }
    if (rows_ < kSmallReadRows) return false;  // the SELECT returned everything
    auto rest = source_.CopyRead(last_id_, up_to_id_);
    if (!rest.ok()) return rest.status();
    rest_ = std::move(*rest);
    return rest_->Next(row);
  }

 private:
  static void AppendBe(std::string* out, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  static int64_t ReadBe64(const char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
    return static_cast<int64_t>(v);
  }

  PgEventSource& source_;
  PGresult* res_;
  const int rows_;
  const int64_t up_to_id_;
  int next_ = 0;
  int64_t last_id_ = 0;
  std::string tuple_;
  std::unique_ptr<core::RowReader> rest_;
};

absl::StatusOr<std::unique_ptr<core::RowReader>> PgEventSource::SmallRead(int64_t after_id,
                                                                          int64_t up_to_id) {
  if (prepared_in_ != conn_.generation()) {
    PGresult* res = PQprepare(conn_.get(), kSmallReadStatement,
                              "SELECT id, ts, event FROM events WHERE id > $1::bigint AND id <= "
                              "$2::bigint ORDER BY id LIMIT $3::bigint",
                              3, nullptr);
    if (res == nullptr || PQresultStatus(res) != PGRES_COMMAND_OK) {
      return conn_.ResultError(res, "preparing the read of events");
    }
    PQclear(res);
    prepared_in_ = conn_.generation();
  }
  const std::string after = absl::StrCat(after_id);
  const std::string up_to =
      absl::StrCat(up_to_id > 0 ? up_to_id : std::numeric_limits<int64_t>::max());
  const std::string limit = absl::StrCat(kSmallReadRows);
  const char* values[3] = {after.c_str(), up_to.c_str(), limit.c_str()};
  PGresult* res = PQexecPrepared(conn_.get(), kSmallReadStatement, 3, values, nullptr, nullptr,
                                 /*resultFormat=*/1);
  if (res == nullptr || PQresultStatus(res) != PGRES_TUPLES_OK) {
    return conn_.ResultError(res, "reading events");
  }
  return std::unique_ptr<core::RowReader>(new SmallRowReader(*this, res, up_to_id));
}

// ---------------------------------------------------------------------------------------------
// Sink

class PgEventSink : public core::EventSink {
 public:
  PgEventSink(ConnParams params, std::string what, SinkOptions options)
      : params_(std::move(params)), what_(std::move(what)), options_(std::move(options)) {}
  ~PgEventSink() override { Close(); }

  absl::Status Connect() override {
    if (absl::Status s = conn_.Open(params_, what_); !s.ok()) return s;
    if (!options_.synchronous_commit.empty()) {
      absl::Status s =
          conn_.Exec(absl::StrCat("SET synchronous_commit = '", options_.synchronous_commit, "'"));
      if (!s.ok()) {
        conn_.Close();
        return s;
      }
    }
    if (!options_.take_writer_lock) return absl::OkStatus();
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

  // One round trip: BEGIN, the two probes and the start of the COPY go as one query string, with
  // the COMMIT after it, so that ending the COPY commits without another round trip. A failed
  // probe fails the COPY, and with it the COMMIT (a failed query string stops at its error).
  absl::Status BeginBatch(int64_t position) override {
    if (begin_sent_ && position_ != position) AbortBatch();
    if (!begin_sent_) {
      if (absl::Status s = SendBegin(position, /*following=*/false); !s.ok()) return s;
    }
    return AwaitBegin();
  }

  absl::Status SendBeginBatch(int64_t position) override {
    if (begin_sent_) AbortBatch();
    return SendBegin(position, /*following=*/false);
  }

  absl::Status BeginFollowingBatch(int64_t position) override {
    if (begin_sent_) AbortBatch();
    if (absl::Status s = SendBegin(position, /*following=*/true); !s.ok()) return s;
    return AwaitBegin();
  }

  absl::Status Write(const core::EventRow& row) override {
    buf_.append(row.encoded.data(), row.encoded.size());
    batch_bytes_ += static_cast<int64_t>(row.encoded.size());
    return buf_.size() >= kSendChunk ? Flush() : absl::OkStatus();
  }

  absl::Status EndBatch() override {
    if (!in_copy_) return absl::OkStatus();
    buf_.append(BinaryCopyTrailer().data(), BinaryCopyTrailer().size());
    if (absl::Status s = Flush(); !s.ok()) return s;
    in_copy_ = false;
    if (PQputCopyEnd(conn_.get(), nullptr) != 1) {
      return InDoubt(conn_.ResultError(nullptr, "ending the write"));
    }
    ended_ = true;
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> CommitBatch() override {
    if (absl::Status s = EndBatch(); !s.ok()) return s;
    ended_ = false;
    PGresult* res = PQgetResult(conn_.get());
    if (res == nullptr || PQresultStatus(res) != PGRES_COMMAND_OK) {
      DrainResults();
      return InDoubt(conn_.ResultError(res, "writing events"));
    }
    PQclear(res);
    if (!following_) {
      // The COMMIT that followed the COPY in the same query string.
      res = PQgetResult(conn_.get());
      if (res == nullptr || PQresultStatus(res) != PGRES_COMMAND_OK) {
        DrainResults();
        return InDoubt(conn_.ResultError(res, "committing events"));
      }
      PQclear(res);
      DrainResults();
      in_tx_ = false;
      return batch_bytes_;
    }
    DrainResults();
    // The batch before this one has committed by now: its last id must be visible.
    auto probe = conn_.Query(
        absl::StrCat("SELECT EXISTS (SELECT 1 FROM events WHERE id = ", position_, ")"));
    if (!probe.ok()) return probe.status();
    if ((*probe)[0][0] != "t") return RowsRemoved(position_);
    absl::Status commit = conn_.Exec("COMMIT");
    in_tx_ = false;
    if (!commit.ok()) return InDoubt(commit);
    return batch_bytes_;
  }

  void AbortBatch() override {
    if (!conn_.is_open()) {
      in_copy_ = in_tx_ = ended_ = begin_sent_ = false;
      return;
    }
    if (begin_sent_) {
      // Sent, never awaited: take the answers up to the COPY, then fail it.
      begin_sent_ = false;
      while (PGresult* r = PQgetResult(conn_.get())) {
        const bool copy_in = PQresultStatus(r) == PGRES_COPY_IN;
        PQclear(r);
        if (copy_in) {
          in_copy_ = true;
          break;
        }
      }
    }
    if (in_copy_) {
      PQputCopyEnd(conn_.get(), "batch abandoned by slate-replicator");
      in_copy_ = false;
      ended_ = true;
    }
    if (ended_) {
      DrainResults();  // an ended BeginBatch batch may have committed here (see EndBatch)
      ended_ = false;
    }
    if (in_tx_) {
      (void)conn_.Exec("ROLLBACK");
      in_tx_ = false;
    }
  }

 private:
  absl::Status SendBegin(int64_t position, bool following) {
    position_ = position;
    following_ = following;
    std::string sql = "BEGIN; ";
    if (!following) {
      absl::StrAppend(&sql, "SELECT ", position,
                      " = 0 OR EXISTS (SELECT 1 FROM events WHERE id = ", position,
                      "), EXISTS (SELECT 1 FROM events WHERE id = ", position + 1, "); ");
    }
    absl::StrAppend(&sql, "COPY events (id, ts, event) FROM STDIN (FORMAT binary)");
    if (!following) absl::StrAppend(&sql, "; COMMIT");
    if (PQsendQuery(conn_.get(), sql.c_str()) != 1) {
      return conn_.ResultError(nullptr, "starting to write events");
    }
    in_tx_ = true;
    begin_sent_ = true;
    return absl::OkStatus();
  }

  absl::Status AwaitBegin() {
    begin_sent_ = false;
    const int64_t position = position_;
    absl::Status probe = absl::OkStatus();
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
        DrainResults();
        return s;
      }
      PQclear(res);
    }
    in_copy_ = true;
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
  SinkOptions options_;
  PgConn conn_;
  std::string buf_;
  int64_t batch_bytes_ = 0;
  int64_t position_ = 0;
  bool following_ = false;
  bool in_tx_ = false;
  bool in_copy_ = false;
  bool ended_ = false;       // the end of the COPY was sent, its results not read yet
  bool begin_sent_ = false;  // a batch's start was sent, its answers not read yet
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
std::unique_ptr<core::EventSink> NewEventSink(const ConnParams& params, const std::string& what,
                                              const SinkOptions& options) {
  return std::make_unique<PgEventSink>(params, what, options);
}
std::unique_ptr<core::WakeupSource> NewWakeupSource(const ConnParams& params,
                                                    const std::string& what) {
  return std::make_unique<PgWakeupSource>(params, what);
}

}  // namespace slate::pg
