// A destination's secondary indexes, set aside for a bulk load and built again (adapters.h,
// core::DestinationIndexes). The record is the table slate_replicator_pending_indexes in the
// destination, beside events: one row per index set aside (its name and pg_get_indexdef()), made
// in the transaction that drops them, each row struck in the transaction that builds its index,
// and the table dropped by Pending() once empty. CREATE INDEX (not CONCURRENTLY) is transactional,
// so every crash leaves either the index or its row.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "server/common/status_macros.h"
#include "server/postgres/adapters.h"
#include "server/postgres/pg_conn.h"
#include "server/postgres/sql.h"

namespace slate::pg {
namespace {

constexpr char kRecord[] = "slate_replicator_pending_indexes";

class PgDestinationIndexes : public core::DestinationIndexes {
 public:
  PgDestinationIndexes(ConnParams params, std::string what, IndexOptions options)
      : params_(std::move(params)), what_(std::move(what)), options_(options) {}
  ~PgDestinationIndexes() override { Close(); }

  absl::Status Connect() override {
    // Unbounded calls: one index build is one long statement (the loop heartbeats meanwhile; a
    // vanished peer is noticed by the keepalives).
    RETURN_IF_ERROR(conn_.Open(params_, what_));
    absl::Status s =
        conn_.Exec(absl::StrCat("SET maintenance_work_mem = '", options_.memory_mb, "MB'"));
    // Marks the session as this config's, so a new active fences it like the writers (sink.cc).
    if (s.ok() && options_.group_key != 0) {
      s = conn_.Exec(sql::LockShared(sql::kGroupLockKey1, options_.group_key));
    }
    if (!s.ok()) conn_.Close();
    return s;
  }
  void Close() override { conn_.Close(); }
  void Interrupt() override { conn_.Interrupt(); }

  absl::StatusOr<std::vector<std::string>> Pending() override {
    auto exists = conn_.Query(absl::StrCat("SELECT to_regclass('", kRecord, "') IS NOT NULL"));
    if (!exists.ok()) return exists.status();
    std::vector<std::string> names;
    if (exists->at(0).at(0) != "t") return names;
    auto rows = conn_.Query(absl::StrCat("SELECT name FROM ", kRecord, " ORDER BY ord"));
    if (!rows.ok()) return rows.status();
    for (const auto& row : *rows) names.push_back(row.at(0));
    if (names.empty()) {
      // Every index was built; the record's own end did not happen (a crash just before it).
      RETURN_IF_ERROR(conn_.Exec(absl::StrCat("DROP TABLE IF EXISTS ", kRecord)));
    }
    return names;
  }

  absl::StatusOr<std::vector<std::string>> SetAside() override {
    auto may = conn_.Query(
        "SELECT pg_has_role(c.relowner, 'USAGE'), has_schema_privilege(c.relnamespace, 'CREATE') "
        "FROM pg_class c WHERE c.oid = 'events'::regclass");
    if (!may.ok()) return may.status();
    if (may->at(0).at(0) != "t") {
      return absl::PermissionDeniedError(
          "this user is not the owner of table events (only the owner may drop its indexes); "
          "run the replicator as the user that ran init-db for a bulk load");
    }
    if (may->at(0).at(1) != "t") {
      return absl::PermissionDeniedError(absl::StrCat(
          "this user may not create tables in the schema of events (the bulk load's record, ",
          kRecord, ", lives there); GRANT CREATE ON SCHEMA to it for a bulk load"));
    }
    RETURN_IF_ERROR(conn_.Exec("BEGIN"));
    absl::StatusOr<std::vector<std::string>> names = SetAsideInTransaction();
    if (!names.ok() || names->empty()) {
      (void)conn_.Exec("ROLLBACK");
      return names;
    }
    RETURN_IF_ERROR(conn_.Exec("COMMIT"));
    return names;
  }

  absl::Status Build(const std::string& name) override {
    RETURN_IF_ERROR(conn_.Exec("BEGIN"));
    absl::Status s = BuildInTransaction(name);
    if (!s.ok()) {
      (void)conn_.Exec("ROLLBACK");
      return s;
    }
    return conn_.Exec("COMMIT");
  }

 private:
  absl::StatusOr<std::vector<std::string>> SetAsideInTransaction() {
    RETURN_IF_ERROR(conn_.Exec("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"));
    // Every index of events that backs no constraint (the primary key, unique and exclusion
    // constraints stay).
    auto rows = conn_.Query(
        "SELECT c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
        "pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE i.indrelid = 'events'::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
        "ORDER BY c.relname");
    if (!rows.ok()) return rows.status();
    std::vector<std::string> names;
    if (rows->empty()) return names;
    RETURN_IF_ERROR(conn_.Exec(absl::StrCat(
        "CREATE TABLE ", kRecord,
        " (ord integer NOT NULL, name text PRIMARY KEY, definition text NOT NULL); COMMENT ON "
        "TABLE ",
        kRecord,
        " IS 'slate-replicator: indexes of events set aside for a bulk load; the replicator "
        "builds them again and drops this table. Do not edit.'")));
    std::vector<std::string> values;
    std::vector<std::string> qualified;
    for (const auto& row : *rows) {
      names.push_back(row.at(0));
      qualified.push_back(row.at(1));
      values.push_back(absl::StrCat("(", values.size() + 1, ", ", Literal(row.at(0)), ", ",
                                    Literal(row.at(2)), ")"));
    }
    RETURN_IF_ERROR(
        conn_.Exec(absl::StrCat("INSERT INTO ", kRecord, " VALUES ", absl::StrJoin(values, ", "))));
    RETURN_IF_ERROR(conn_.Exec(absl::StrCat("DROP INDEX ", absl::StrJoin(qualified, ", "))));
    return names;
  }

  absl::Status BuildInTransaction(const std::string& name) {
    // The row lock keeps two sessions (a former active's lingering one) off the same index.
    auto rows = conn_.Query(
        absl::StrCat("SELECT definition, to_regclass(quote_ident(name)) IS NOT NULL FROM ", kRecord,
                     " WHERE name = ", Literal(name), " FOR UPDATE"));
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return absl::OkStatus();  // built meanwhile
    if (rows->at(0).at(1) != "t") RETURN_IF_ERROR(conn_.Exec(rows->at(0).at(0)));
    RETURN_IF_ERROR(
        conn_.Exec(absl::StrCat("DELETE FROM ", kRecord, " WHERE name = ", Literal(name))));
    return absl::OkStatus();
  }

  std::string Literal(const std::string& text) {
    char* quoted = PQescapeLiteral(conn_.get(), text.c_str(), text.size());
    std::string out = quoted == nullptr ? std::string("NULL") : std::string(quoted);
    PQfreemem(quoted);
    return out;
  }

  const ConnParams params_;
  const std::string what_;
  const IndexOptions options_;
  PgConn conn_;
};

}  // namespace

std::unique_ptr<core::DestinationIndexes> NewDestinationIndexes(const ConnParams& params,
                                                                const std::string& what,
                                                                const IndexOptions& options) {
  return std::make_unique<PgDestinationIndexes>(params, what, options);
}

}  // namespace slate::pg
