#include "server/postgres/restore_target.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "server/common/status_macros.h"
#include "server/postgres/binary_copy.h"
#include "server/postgres/pg_conn.h"
#include "server/postgres/sql.h"
#include "server/postgres/verify_target.h"

namespace slate::pg {
namespace {

constexpr size_t kSendChunk = 256 * 1024;

class PgRestoreTarget : public core::RestoreTarget {
 public:
  absl::Status Open(const ConnParams& params, const std::string& what) {
    // One long transaction: no call limit (a stalled peer still fails by keepalives).
    RETURN_IF_ERROR(conn_.Open(params, what, /*bound_calls=*/false));
    view_ = NewVerifyView(conn_);
    return absl::OkStatus();
  }

  absl::Status Begin() override {
    RETURN_IF_ERROR(conn_.Exec("BEGIN; LOCK TABLE id IN ACCESS EXCLUSIVE MODE"));
    in_tx_ = true;
    auto n = conn_.Query("SELECT count(*) FROM events");
    if (!n.ok()) return n.status();
    if ((*n)[0][0] != "0") {
      return absl::FailedPreconditionError(
          absl::StrCat(conn_.what(), " already has ", (*n)[0][0],
                       " events: restore only into an empty, freshly initialised source"));
    }
    absl::Status off = conn_.Exec("ALTER TABLE events DISABLE TRIGGER notify_insert");
    if (!off.ok() && absl::StrContains(off.message(), "must be owner")) {
      return absl::FailedPreconditionError(absl::StrCat(
          off.message(),
          ": restore turns the notify trigger off for its transaction, which needs the owner of "
          "table events: run it as the user that ran init-db"));
    }
    RETURN_IF_ERROR(off);
    PGresult* res = PQexec(conn_.get(), "COPY events (id, ts, event) FROM STDIN (FORMAT binary)");
    if (res == nullptr || PQresultStatus(res) != PGRES_COPY_IN) {
      return conn_.ResultError(res, "starting the COPY");
    }
    PQclear(res);
    copying_ = true;
    buf_.assign(BinaryCopyHeader().data(), BinaryCopyHeader().size());
    return absl::OkStatus();
  }

  absl::Status Write(const core::EventRow& row) override {
    buf_.append(row.encoded.data(), row.encoded.size());
    if (buf_.size() >= kSendChunk) return Flush();
    return absl::OkStatus();
  }

  absl::Status EndCopy() override {
    buf_.append(BinaryCopyTrailer().data(), BinaryCopyTrailer().size());
    RETURN_IF_ERROR(Flush());
    copying_ = false;
    if (PQputCopyEnd(conn_.get(), nullptr) != 1) return conn_.ResultError(nullptr, "ending COPY");
    PGresult* res = PQgetResult(conn_.get());
    if (res == nullptr || PQresultStatus(res) != PGRES_COMMAND_OK) {
      absl::Status s = conn_.ResultError(res, "writing events");
      conn_.DrainResults();
      return s;
    }
    PQclear(res);
    conn_.DrainResults();
    return absl::OkStatus();
  }

  core::VerifyTarget& view() override { return *view_; }

  absl::Status Commit(int64_t max_id) override {
    RETURN_IF_ERROR(conn_.Exec(absl::StrCat(
        "ALTER TABLE events ENABLE TRIGGER notify_insert; UPDATE id SET id = ", max_id + 1,
        "; SELECT pg_notify('eventsinsert', json_build_object('table', 'events', 'id', ", max_id,
        ")::text)")));
    in_tx_ = false;
    return conn_.Exec("COMMIT");
  }

  void Abort() override {
    if (copying_) {
      (void)PQputCopyEnd(conn_.get(), "restore abandoned");
      conn_.DrainResults();
      copying_ = false;
    }
    if (in_tx_) (void)conn_.Exec("ROLLBACK");
    in_tx_ = false;
  }

 private:
  absl::Status Flush() { return conn_.PutCopyData(&buf_); }

  PgConn conn_;
  std::unique_ptr<core::VerifyTarget> view_;
  std::string buf_;
  bool in_tx_ = false;
  bool copying_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<core::RestoreTarget>> NewRestoreTarget(const ConnParams& params,
                                                                      const std::string& what) {
  auto t = std::make_unique<PgRestoreTarget>();
  RETURN_IF_ERROR(t->Open(params, what));
  return std::unique_ptr<core::RestoreTarget>(std::move(t));
}

}  // namespace slate::pg
