#include "server/postgres/verify_target.h"

#include "absl/strings/str_cat.h"

#include "server/common/status_macros.h"
#include "server/postgres/pg_conn.h"
#include "server/postgres/sql.h"

namespace slate::pg {
namespace {

// Queries `conn_`: its own session (Open), or another's (a view inside its transaction).
class PgVerifyTarget : public core::VerifyTarget {
 public:
  explicit PgVerifyTarget(bool ts_millis, PgConn* borrowed = nullptr)
      : ts_(ts_millis ? sql::kTsMillisMicros : sql::kTsMicros),
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

 private:
  const std::string ts_;
  PgConn owned_;
  PgConn& conn_;
};

}  // namespace

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
