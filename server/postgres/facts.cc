#include "server/postgres/facts.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include <pqxx/pqxx>

#include "server/postgres/connection.h"
#include "server/postgres/schema.h"
#include "server/postgres/sql.h"

namespace slate::pg {

core::DatabaseFacts GatherFacts(const ConnParams& params, const std::string& label,
                                bool is_destination, absl::Duration lock_wait, int group_key) {
  core::DatabaseFacts facts;
  facts.label = label;
  facts.dsn = params.Describe();
  auto session = PqxxSession::Open(params, facts.dsn);
  if (!session.ok()) {
    facts.error = std::string(session.status().message());
    facts.transient = !IsDefinitiveConnectFailure(facts.error);
    return facts;
  }
  facts.reachable = true;
  pqxx::connection& conn = (*session)->conn();

  absl::Status status = (*session)->Run("read facts", [&] {
    pqxx::read_transaction tx(conn);
    // Identity: the same cluster and database reached under two names is one database.
    try {
      pqxx::subtransaction sub(tx, "identity");
      facts.identity =
          sub.exec1(
                 "SELECT (SELECT system_identifier FROM pg_control_system())::text || '/' || "
                 "(SELECT oid FROM pg_database WHERE datname = current_database())::text")[0]
              .c_str();
    } catch (const pqxx::sql_error&) {
      facts.identity.clear();  // not allowed to read it: rely on the config's names
    }
    facts.has_events = tx.exec1("SELECT to_regclass('events') IS NOT NULL")[0].as<bool>();
    if (facts.has_events) {
      for (const auto& row : tx.exec(
               "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
               "WHERE a.attrelid = to_regclass('events') AND a.attnum > 0 AND NOT a.attisdropped "
               "ORDER BY a.attnum")) {
        facts.events_columns.emplace_back(row[0].c_str(), row[1].c_str());
      }
    }
    const auto objects = tx.exec1(
        absl::StrCat("SELECT to_regclass('", kIdTable, "') IS NOT NULL, ",
                     "EXISTS (SELECT 1 FROM pg_proc WHERE proname = '", kInsertFunction, "'), ",
                     "EXISTS (SELECT 1 FROM pg_proc WHERE proname = '", kRestoreFunction, "'), ",
                     "EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '", kNotifyTrigger,
                     "' AND tgrelid = to_regclass('events')), ",
                     "EXISTS (SELECT 1 FROM pg_proc WHERE proname = '", kNotifyFunction, "'), ",
                     "EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '", kCheckTrigger,
                     "' AND tgrelid = to_regclass('events')), ",
                     "EXISTS (SELECT 1 FROM pg_proc WHERE proname = '", kCheckFunction, "')"));
    const char* names[] = {"table id",
                           "function insert_events",
                           "function restore_events",
                           "trigger notify_insert",
                           "function notify_event_insert",
                           "trigger check_sql_command",
                           "function filter_sql_command"};
    for (int i = 0; i < 7; ++i) facts.source_objects.emplace_back(names[i], objects[i].as<bool>());

    if (facts.has_events) {
      const auto counts = tx.exec1("SELECT count(*), coalesce(max(id), 0) FROM events");
      facts.count = counts[0].as<int64_t>();
      facts.max_id = counts[1].as<int64_t>();
      const auto first = tx.exec(sql::kFirstEvent);
      if (!first.empty()) {
        facts.first = core::FirstEvent{first[0][0].as<int64_t>(), first[0][1].as<int64_t>(),
                                       first[0][2].c_str()};
      }
    }
  });
  if (status.ok() && is_destination) {
    const absl::Time deadline = absl::Now() + lock_wait;
    while (status.ok()) {
      bool held = false;
      status = (*session)->Run("read the writer lock", [&] {
        pqxx::nontransaction tx(conn);
        const pqxx::result holder = tx.exec(sql::kWriterLockHolder);
        held = !holder.empty();
        facts.writer_lock_holder.clear();
        if (!held) return;
        facts.writer_lock_holder =
            sql::DescribeHolder(holder[0][0].c_str(), holder[0][1].c_str(), holder[0][2].c_str());
        facts.writer_lock_application_name = holder[0][1].c_str();
        facts.writer_lock_same_config =
            group_key != 0 && tx.exec1(sql::HoldsAdvisoryLock(holder[0][0].as<int64_t>(),
                                                              sql::kGroupLockKey1, group_key))[0]
                                  .as<bool>();
      });
      // A live instance of this config is not waited for: a start becomes its standby.
      if (!held || facts.writer_lock_same_config || absl::Now() >= deadline) break;
      absl::SleepFor(absl::Milliseconds(200));  // polling the lock's holder under a deadline
    }
  }
  if (!status.ok()) {
    facts.reachable = false;
    facts.error = std::string(status.message());
    facts.transient = status.code() == absl::StatusCode::kUnavailable;
  }
  return facts;
}

}  // namespace slate::pg
