#include "server/postgres/pg_conn.h"

#include <sys/socket.h>

#include "absl/strings/str_cat.h"

#include "server/postgres/connection.h"
#include "server/postgres/pg_status.h"
#include "server/postgres/sql.h"

namespace slate::pg {

absl::Status PgConn::Open(const ConnParams& params, const std::string& what, bool bound_calls) {
  Close();
  what_ = what;
  call_limit_ = bound_calls ? CallLimit(params) : absl::InfiniteDuration();
  conn_ = PQconnectdb(ConnInfo(params).c_str());
  if (conn_ == nullptr) return absl::ResourceExhaustedError("libpq: out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    absl::Status s =
        StatusFromSqlState("", PQerrorMessage(conn_), absl::StrCat("connecting to ", what));
    Close();
    return s;
  }
  ++generation_;
  std::lock_guard<std::mutex> lock(fd_mu_);
  fd_ = PQsocket(conn_);
  return absl::OkStatus();
}

void PgConn::Close() {
  {
    std::lock_guard<std::mutex> lock(fd_mu_);
    fd_ = -1;
  }
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

void PgConn::Interrupt() {
  std::lock_guard<std::mutex> lock(fd_mu_);
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
}

absl::Status PgConn::ResultError(PGresult* res, const std::string& context) {
  std::string sqlstate;
  std::string message;
  if (res != nullptr) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state != nullptr) sqlstate = state;
    message = PQresultErrorMessage(res);
    PQclear(res);
  }
  if (message.empty() && conn_ != nullptr) message = PQerrorMessage(conn_);
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat(what_, ": ", context, ": connection lost: ", message));
  }
  return StatusFromSqlState(sqlstate, message, absl::StrCat(what_, ": ", context));
}

void PgConn::DrainResults() {
  if (conn_ == nullptr) return;
  while (PGresult* r = PQgetResult(conn_)) PQclear(r);
}

PGresult* PgConn::Execute(const std::string& sql) {
  if (call_limit_ == absl::InfiniteDuration()) return PQexec(conn_, sql.c_str());
  CallDeadline deadline(PQsocket(conn_), call_limit_);
  return PQexec(conn_, sql.c_str());
}

absl::Status PgConn::Exec(const std::string& sql) {
  if (conn_ == nullptr) return absl::UnavailableError(absl::StrCat(what_, ": not connected"));
  PGresult* res = Execute(sql);
  const ExecStatusType st = res == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    PQclear(res);
    return absl::OkStatus();
  }
  return ResultError(res, sql.substr(0, 60));
}

absl::StatusOr<std::vector<std::vector<std::string>>> PgConn::Query(const std::string& sql) {
  if (conn_ == nullptr) return absl::UnavailableError(absl::StrCat(what_, ": not connected"));
  PGresult* res = Execute(sql);
  if (res == nullptr || PQresultStatus(res) != PGRES_TUPLES_OK) {
    return ResultError(res, sql.substr(0, 60));
  }
  std::vector<std::vector<std::string>> rows(static_cast<size_t>(PQntuples(res)));
  for (int r = 0; r < PQntuples(res); ++r) {
    for (int c = 0; c < PQnfields(res); ++c) {
      rows[static_cast<size_t>(r)].emplace_back(PQgetvalue(res, r, c));
    }
  }
  PQclear(res);
  return rows;
}

// The lowest-id event, for identity checks (source and destination alike).
absl::Status PgConn::PutCopyData(std::string* buf) {
  if (buf->empty()) return absl::OkStatus();
  if (PQputCopyData(conn_, buf->data(), static_cast<int>(buf->size())) != 1) {
    return ResultError(nullptr, "writing events");
  }
  buf->clear();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<LockHolder>> TryWriterLock(PgConn& conn) {
  auto got = conn.Query(sql::kTryWriterLock);
  if (!got.ok()) return got.status();
  if (got->at(0).at(0) == "t") return std::nullopt;
  LockHolder h;
  auto holder = conn.Query(sql::kWriterLockHolder);
  if (holder.ok() && !holder->empty()) {
    h.pid = std::stoll((*holder)[0][0]);
    h.description = sql::DescribeHolder((*holder)[0][0], (*holder)[0][1], (*holder)[0][2]);
  }
  return h;
}

absl::StatusOr<std::optional<core::FirstEvent>> ReadFirstEvent(PgConn& conn) {
  auto rows = conn.Query(sql::kFirstEvent);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<core::FirstEvent>();
  const auto& r = rows->front();
  return std::optional<core::FirstEvent>(
      core::FirstEvent{std::stoll(r[0]), std::stoll(r[1]), r[2]});
}

}  // namespace slate::pg
