// The event source: reads of the source's events, streamed as binary COPY tuples (adapters.h).

#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"

#include "server/common/status_macros.h"
#include "server/postgres/adapters.h"
#include "server/postgres/binary_copy.h"
#include "server/postgres/pg_conn.h"
#include "server/postgres/sql.h"

namespace slate::pg {
namespace {

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
    conn_.DrainResults();
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
    RETURN_IF_ERROR(Connect());
    auto rows = conn_.Query(sql::kLastEvent);
    if (!rows.ok()) return Failed(rows.status());
    core::SourceHead head;
    if (!rows->empty()) {
      head.max_id = std::stoll((*rows)[0][0]);
      head.newest_event_time = absl::FromUnixMicros(std::stoll((*rows)[0][1]));
    }
    return head;
  }

  absl::StatusOr<std::optional<core::FirstEvent>> First() override {
    RETURN_IF_ERROR(Connect());
    auto first = ReadFirstEvent(conn_);
    if (!first.ok()) return Failed(first.status());
    return first;
  }

  absl::StatusOr<std::unique_ptr<core::RowReader>> ReadAfter(int64_t after_id, int64_t up_to_id,
                                                             int64_t expected_rows) override {
    RETURN_IF_ERROR(Connect());
    if (expected_rows > 0 && expected_rows <= kSmallReadRows) {
      auto small = SmallRead(after_id, up_to_id);
      if (!small.ok()) return Failed(small.status());
      return small;
    }
    return CopyRead(after_id, up_to_id);
  }

  // A large read: COPY ... TO STDOUT, streamed.
  absl::StatusOr<std::unique_ptr<core::RowReader>> CopyRead(int64_t after_id, int64_t up_to_id) {
    PGresult* res = PQexec(conn_.get(), sql::CopyEventsAfter(after_id, up_to_id).c_str());
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
  uint64_t prepared_in_ = 0;  // the connection generation the small read was prepared in
  ConnParams params_;
  std::string what_;
  PgConn conn_;
};

// Rows of one prepared SELECT (binary results), framed as binary COPY tuples; then, if the SELECT
// hit its limit, a COPY for the rest. The SELECT is sent when the reader is made and its result
// awaited at the first Next(), so the caller's other sends (the destination's BEGIN) go while the
// source works.
class SmallRowReader : public core::RowReader {
 public:
  SmallRowReader(PgEventSource& source, int64_t up_to_id) : source_(source), up_to_id_(up_to_id) {}
  ~SmallRowReader() override {
    // Abandoned before its result: the connection stays usable.
    if (!awaited_) source_.conn_.DrainResults();
    PQclear(res_);
  }

  absl::StatusOr<bool> Next(core::EventRow* row) override {
    if (!awaited_) RETURN_IF_ERROR(Await());
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
  absl::Status Await() {
    awaited_ = true;
    res_ = PQgetResult(source_.conn_.get());
    if (res_ == nullptr || PQresultStatus(res_) != PGRES_TUPLES_OK) {
      absl::Status s = source_.conn_.ResultError(res_, "reading events");  // clears res_
      res_ = nullptr;
      source_.conn_.DrainResults();
      return source_.Failed(s);
    }
    rows_ = PQntuples(res_);
    source_.conn_.DrainResults();  // the end of the query's results
    return absl::OkStatus();
  }

  static void AppendBe(std::string* out, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  static int64_t ReadBe64(const char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
    return static_cast<int64_t>(v);
  }

  PgEventSource& source_;
  const int64_t up_to_id_;
  bool awaited_ = false;
  PGresult* res_ = nullptr;
  int rows_ = 0;
  int next_ = 0;
  int64_t last_id_ = 0;
  std::string tuple_;
  std::unique_ptr<core::RowReader> rest_;
};

absl::StatusOr<std::unique_ptr<core::RowReader>> PgEventSource::SmallRead(int64_t after_id,
                                                                          int64_t up_to_id) {
  if (prepared_in_ != conn_.generation()) {
    PGresult* res = PQprepare(conn_.get(), sql::kSmallReadStatement, sql::kSmallRead, 3, nullptr);
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
  if (PQsendQueryPrepared(conn_.get(), sql::kSmallReadStatement, 3, values, nullptr, nullptr,
                          /*resultFormat=*/1) != 1) {
    return conn_.ResultError(nullptr, "reading events");
  }
  return std::unique_ptr<core::RowReader>(new SmallRowReader(*this, up_to_id));
}

}  // namespace

std::unique_ptr<core::EventSource> NewEventSource(const ConnParams& params,
                                                  const std::string& what) {
  return std::make_unique<PgEventSource>(params, what);
}

}  // namespace slate::pg
