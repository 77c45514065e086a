#include "server/postgres/repair_writer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "server/common/status_macros.h"
#include "server/postgres/pg_conn.h"

namespace slate::pg {
namespace {

class PgTsRewriter : public core::TsRewriter {
 public:
  absl::Status Open(const ConnParams& params, const std::string& what, bool take_writer_lock) {
    RETURN_IF_ERROR(conn_.Open(params, what, /*bound_calls=*/true));
    if (!take_writer_lock) return absl::OkStatus();
    auto holder = TryWriterLock(conn_);
    if (!holder.ok()) return holder.status();
    if (!holder->has_value()) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        what, " is being written (its writer lock is held: ", (*holder)->description, ")"));
  }

  absl::StatusOr<int64_t> RewriteTs(const std::vector<core::TsFix>& fixes) override {
    if (fixes.empty()) return 0;
    std::vector<int64_t> ids, src, dst;
    std::vector<std::string> md5s;
    for (const core::TsFix& f : fixes) {
      ids.push_back(f.id);
      src.push_back(f.source_ts_micros);
      dst.push_back(f.destination_ts_micros);
      // md5 is hex: safe inside an array literal.
      md5s.push_back(f.event_md5);
    }
    // 'epoch' plus whole microseconds is exact (no floating point on the way).
    const std::string update = absl::StrCat(
        "UPDATE events AS e SET ts = timestamptz 'epoch' + v.s * interval '1 microsecond' "
        "FROM unnest('{",
        absl::StrJoin(ids, ","), "}'::bigint[], '{", absl::StrJoin(src, ","), "}'::bigint[], '{",
        absl::StrJoin(dst, ","), "}'::bigint[], '{", absl::StrJoin(md5s, ","),
        "}'::text[]) AS v(id, s, d, h) WHERE e.id = v.id AND e.ts = timestamptz 'epoch' + v.d * "
        "interval '1 microsecond' AND md5(e.event::text) = v.h");
    RETURN_IF_ERROR(conn_.Exec("BEGIN"));
    auto n =
        conn_.Query(absl::StrCat("WITH u AS (", update, " RETURNING 1) SELECT count(*) FROM u"));
    if (!n.ok()) {
      (void)conn_.Exec("ROLLBACK");
      return n.status();
    }
    RETURN_IF_ERROR(conn_.Exec("COMMIT"));
    return std::stoll((*n)[0][0]);
  }

 private:
  PgConn conn_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<core::TsRewriter>> NewTsRewriter(const ConnParams& params,
                                                                const std::string& what,
                                                                bool take_writer_lock) {
  auto w = std::make_unique<PgTsRewriter>();
  RETURN_IF_ERROR(w->Open(params, what, take_writer_lock));
  return std::unique_ptr<core::TsRewriter>(std::move(w));
}

}  // namespace slate::pg
