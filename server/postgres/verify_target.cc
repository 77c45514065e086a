#include "server/postgres/verify_target.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

#include "server/common/status_macros.h"
#include "server/postgres/pg_conn.h"
#include "server/postgres/sql.h"

namespace slate::pg {
namespace {

constexpr char kCheckpointTable[] = "slate_replicator_verification";

// Unix microseconds of a timestamptz column, and back; NULL for the infinite past.
std::string MicrosOf(const std::string& column) {
  return absl::StrCat("(extract(epoch FROM ", column, ") * 1000000)::bigint");
}
std::string TimestampOf(absl::Time t) {
  if (t == absl::InfinitePast()) return "NULL";
  return absl::StrCat("to_timestamp(", absl::ToUnixMicros(t), " / 1000000.0)");
}

// Queries `conn_`: its own session (Open), or another's (a view inside its transaction).
class PgVerifyTarget : public core::VerifyTarget {
 public:
  explicit PgVerifyTarget(bool ts_millis, PgConn* borrowed = nullptr, bool checkpoint = false)
      : ts_(ts_millis ? sql::kTsMillisMicros : sql::kTsMicros),
        checkpoint_(checkpoint),
        conn_(borrowed != nullptr ? *borrowed : owned_) {}

  absl::Status Open(const ConnParams& params, const std::string& what) {
    RETURN_IF_ERROR(conn_.Open(params, what, /*bound_calls=*/true));
    return conn_.Exec("SET default_transaction_read_only = on");
  }

  void Interrupt() override { conn_.Interrupt(); }

  absl::StatusOr<int64_t> MaxId() override {
    auto rows = conn_.Query(std::string(sql::kMaxId));
    if (!rows.ok()) return rows.status();
    return std::stoll((*rows)[0][0]);
  }

  absl::StatusOr<core::RangeSummary> Summarize(int64_t from, int64_t to) override {
    // Per row a 64-bit hash of id, ts and the event's text (text, so 1.50 and 1.5 differ as
    // they do in bytes); summed as numeric, so the order rows are read in does not matter.
    auto rows = conn_.Query(
        absl::StrCat("SELECT count(*), coalesce(sum(hashtextextended(id::text || '|' || ", ts_,
                     "::text || '|' || event::text, 0)::numeric), 0) FROM events WHERE id BETWEEN ",
                     from, " AND ", to));
    if (!rows.ok()) return rows.status();
    return core::RangeSummary{std::stoll((*rows)[0][0]), (*rows)[0][1]};
  }

  absl::StatusOr<std::vector<core::RangeSummary>> SummarizeGroups(int64_t from, int64_t to,
                                                                  int64_t group) override {
    auto rows = conn_.Query(
        absl::StrCat("SELECT (id - ", from, ") / ", group,
                     " AS g, count(*), sum(hashtextextended(id::text || '|' || ", ts_,
                     "::text || '|' || event::text, 0)::numeric) FROM events WHERE id BETWEEN ",
                     from, " AND ", to, " GROUP BY g ORDER BY g"));
    if (!rows.ok()) return rows.status();
    const int64_t n = (to - from + group) / group;
    std::vector<core::RangeSummary> out(static_cast<size_t>(n), core::RangeSummary{0, "0"});
    for (const auto& r : *rows) {
      const int64_t g = std::stoll(r[0]);
      if (g < 0 || g >= n) return absl::InternalError("group index out of range");
      out[static_cast<size_t>(g)] = core::RangeSummary{std::stoll(r[1]), r[2]};
    }
    return out;
  }

  absl::StatusOr<std::vector<core::RowDigest>> RowDigests(int64_t from, int64_t to) override {
    auto rows = conn_.Query(absl::StrCat("SELECT id, ", ts_,
                                         ", md5(event::text) FROM events WHERE id BETWEEN ", from,
                                         " AND ", to, " ORDER BY id"));
    if (!rows.ok()) return rows.status();
    std::vector<core::RowDigest> out;
    out.reserve(rows->size());
    for (const auto& r : *rows) out.push_back({std::stoll(r[0]), std::stoll(r[1]), r[2]});
    return out;
  }

  absl::StatusOr<std::vector<core::RowSummary>> Rows(int64_t from, int64_t to) override {
    auto rows = conn_.Query(
        absl::StrCat("SELECT id, ", ts_,
                     ", octet_length(event::text), md5(event::text), left(event::text, 100) "
                     "FROM events WHERE id BETWEEN ",
                     from, " AND ", to, " ORDER BY id"));
    if (!rows.ok()) return rows.status();
    std::vector<core::RowSummary> out;
    for (const auto& r : *rows) {
      out.push_back({std::stoll(r[0]), std::stoll(r[1]), std::stoll(r[2]), r[3], r[4]});
    }
    return out;
  }

  absl::StatusOr<std::optional<core::VerifyCheckpoint>> LoadCheckpoint() override {
    if (!checkpoint_) return core::VerifyTarget::LoadCheckpoint();
    auto exists =
        conn_.Query(absl::StrCat("SELECT to_regclass('", kCheckpointTable, "') IS NOT NULL"));
    if (!exists.ok()) return exists.status();
    if ((*exists)[0][0] != "t") return std::optional<core::VerifyCheckpoint>();
    auto rows = conn_.Query(
        absl::StrCat("SELECT ", MicrosOf("pass_started"), ", pass_through, proven_through, ",
                     MicrosOf("last_full_pass"),
                     ", digest, table_file IS DISTINCT FROM pg_relation_filenode('events') FROM ",
                     kCheckpointTable));
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return std::optional<core::VerifyCheckpoint>();
    const std::vector<std::string>& r = (*rows)[0];
    core::VerifyCheckpoint c;
    c.pass_started = absl::FromUnixMicros(std::stoll(r[0]));
    c.pass_through = std::stoll(r[1]);
    c.proven_through = std::stoll(r[2]);
    c.last_full_pass = r[3].empty() ? absl::InfinitePast() : absl::FromUnixMicros(std::stoll(r[3]));
    c.digest = r[4];
    c.table_replaced = r[5] == "t";
    return std::optional<core::VerifyCheckpoint>(std::move(c));
  }

  absl::Status SaveCheckpoint(const core::VerifyCheckpoint& c) override {
    if (!checkpoint_) return core::VerifyTarget::SaveCheckpoint(c);
    // The digest is a number the server computed (Summarize); anything else is not written.
    if (c.digest.find_first_not_of("0123456789-") != std::string::npos) {
      return absl::InvalidArgumentError("a checkpoint digest that is not a number");
    }
    std::string q = "BEGIN READ WRITE; ";
    if (!table_made_) {
      // Made (and described) only when missing: a table someone else made and granted is
      // written as it is.
      absl::StrAppend(
          &q, "DO $$BEGIN IF to_regclass('", kCheckpointTable, "') IS NULL THEN CREATE TABLE ",
          kCheckpointTable,
          " (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), pass_started "
          "timestamptz NOT NULL, pass_through bigint NOT NULL, proven_through bigint NOT NULL, "
          "last_full_pass timestamptz, digest text NOT NULL, table_file oid NOT NULL, saved_at "
          "timestamptz NOT NULL); COMMENT ON TABLE ",
          kCheckpointTable,
          " IS 'slate-replicator: how far continuous verification has compared this "
          "destination with its source, so a restart goes on from there. Safe to drop: the next "
          "start then verifies from id 1.'; END IF; END$$; ");
    }
    absl::StrAppend(&q, "INSERT INTO ", kCheckpointTable, " VALUES (true, ",
                    TimestampOf(c.pass_started), ", ", c.pass_through, ", ", c.proven_through, ", ",
                    TimestampOf(c.last_full_pass), ", '", c.digest,
                    "', pg_relation_filenode('events'), now()) ON CONFLICT (singleton) DO UPDATE "
                    "SET pass_started = EXCLUDED.pass_started, pass_through = "
                    "EXCLUDED.pass_through, proven_through = EXCLUDED.proven_through, "
                    "last_full_pass = EXCLUDED.last_full_pass, digest = EXCLUDED.digest, "
                    "table_file = EXCLUDED.table_file, saved_at = EXCLUDED.saved_at; COMMIT");
    const absl::Status s = conn_.Exec(q);
    if (!s.ok()) {
      if (conn_.is_open()) (void)conn_.Exec("ROLLBACK");  // a failed string leaves it open
      return s;
    }
    table_made_ = true;
    return absl::OkStatus();
  }

 private:
  const std::string ts_;
  const bool checkpoint_;
  bool table_made_ = false;
  PgConn owned_;
  PgConn& conn_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<core::VerifyTarget>> NewDestinationVerifyTarget(
    const ConnParams& params, const std::string& what) {
  auto target = std::make_unique<PgVerifyTarget>(/*ts_millis=*/false, nullptr,
                                                 /*checkpoint=*/true);
  RETURN_IF_ERROR(target->Open(params, what));
  return std::unique_ptr<core::VerifyTarget>(std::move(target));
}

std::unique_ptr<core::VerifyTarget> NewVerifyView(PgConn& conn) {
  return std::make_unique<PgVerifyTarget>(/*ts_millis=*/false, &conn);
}

absl::StatusOr<std::unique_ptr<core::VerifyTarget>> NewVerifyTarget(const ConnParams& params,
                                                                    const std::string& what,
                                                                    bool ts_millis) {
  auto target = std::make_unique<PgVerifyTarget>(ts_millis);
  RETURN_IF_ERROR(target->Open(params, what));
  return std::unique_ptr<core::VerifyTarget>(std::move(target));
}

}  // namespace slate::pg
